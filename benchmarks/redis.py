"""Shared limits and budgets across processes through one real redis-server.

    shared_limits   4 processes, one `limits: {"*": {rpm: 600, burst: 5}}`, 1,200 calls
    shared_budget   4 processes under one standing `{max_usd: 0.05, per: day}`, 300
                    concurrent gpt-4o calls each, random answer lengths up to 200 tokens

Both are judged at the fake server's clock: when requests arrived, and what it generated.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.procs import AGENTFLOW, child_env, command_line
from benchmarks.report import Check, Outcome
from benchmarks.server import FakeServer
from benchmarks.workloads import independent_agents, workflow_yaml

PROCESSES = 4
LIMIT_CALLS = 1200
LIMIT_RPM, LIMIT_BURST = 600, 5
BUDGET_CALLS, BUDGET_USD, BUDGET_MAX_TOKENS = 300, 0.05, 200


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free loopback port, persistence off; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="agentflow-bench-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _processes(
    workflow: Path, log_root: Path, state: str, count: int
) -> tuple[list[int], list[str]]:
    """Start `count` `agentflow run` processes at once; wait for all; their exit codes."""
    argvs = [
        [
            AGENTFLOW,
            "run",
            str(workflow),
            "--no-progress",
            "--format",
            "json",
            "--log-dir",
            str(log_root / f"p{n}"),
            "--state",
            state,
        ]
        for n in range(count)
    ]
    started = [
        subprocess.Popen(
            argv,
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    codes = []
    for process in started:
        _, stderr = process.communicate(timeout=900)
        codes.append(process.returncode)
        if process.returncode not in (0, 3):
            raise RuntimeError(f"agentflow run failed ({process.returncode}): {stderr[-2000:]}")
    return codes, [command_line(argvs[0])]


def _max_in_window(times: Sequence[float], window: float) -> int:
    times = sorted(times)
    best = start = 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def shared_limits(ctx: Any) -> Outcome:
    started = time.perf_counter()
    per_process = LIMIT_CALLS // PROCESSES
    with FakeServer() as server, redis_server() as state:
        server.reset()
        server.control(latency_ms=20)
        workflow = ctx.write(
            "redis_limits.yaml",
            workflow_yaml(
                "redis_limits",
                independent_agents(per_process),
                api_base=server.base_url,
                limits={"*": {"rpm": LIMIT_RPM, "burst": LIMIT_BURST}},
            ),
        )
        codes, commands = _processes(workflow, ctx.tmp / "redis_limits", state, PROCESSES)
        arrivals = [r.started for r in server.requests() if r.status is not None]
    rate = LIMIT_RPM / 60.0
    one = _max_in_window(arrivals, 1.0)
    sixty = _max_in_window(arrivals, 60.0)
    span = max(arrivals) - min(arrivals)
    utilisation = (len(arrivals) - LIMIT_BURST) / (span * rate) if span > 0 else 0.0
    checks = (
        Check(
            f"max requests in any 1 s window at the server <= {rate + LIMIT_BURST:g}",
            str(one),
            one <= rate + LIMIT_BURST,
        ),
        Check(
            f"max requests in any 60 s window <= {LIMIT_RPM + LIMIT_BURST}",
            f"{sixty} (run spans {span:.1f} s)",
            sixty <= LIMIT_RPM + LIMIT_BURST and span >= 60,
        ),
        Check(
            "utilisation >= 95%",
            f"{utilisation * 100:.1f}% ({len(arrivals)} requests in {span:.1f} s)",
            utilisation >= 0.95,
        ),
        Check("every process exits 0", str(codes), all(c == 0 for c in codes)),
    )
    details = (
        f"{PROCESSES} `agentflow run` processes started together, {per_process} independent "
        f'agents each (20 ms server latency), one `limits: {{"*": {{rpm: {LIMIT_RPM}, burst: '
        f"{LIMIT_BURST}}}}}` shared through `--state redis://` (a local redis-server).",
        "Windows and utilisation are taken over the arrival times at the fake server; "
        f"utilisation = (requests - burst {LIMIT_BURST}) / (first-to-last arrival x {rate:g}/s).",
    )
    return Outcome(
        "redis-limits",
        f"{PROCESSES} processes share one rpm {LIMIT_RPM} limit via Redis",
        "One `limits:` key is one limit for every process naming the same Redis.",
        checks,
        details,
        tuple(commands),
        time.perf_counter() - started,
    )


def _gpt4o_prices() -> tuple[float, float]:
    from agentflow.plan.pricing import load_price_book

    book = load_price_book()
    per_in = book.cost("openai/gpt-4o", 1_000_000, 0)
    per_out = book.cost("openai/gpt-4o", 0, 1_000_000)
    assert per_in is not None and per_out is not None
    return per_in / 1e6, per_out / 1e6


def shared_budget(ctx: Any) -> Outcome:
    started = time.perf_counter()
    with FakeServer() as server, redis_server() as state:
        server.reset()
        server.control(latency_ms=300, completion_range=[1, BUDGET_MAX_TOKENS], seed=7)
        workflow = ctx.write(
            "redis_budget.yaml",
            workflow_yaml(
                "redis_budget",
                independent_agents(BUDGET_CALLS),
                api_base=server.base_url,
                model="openai/gpt-4o",
                max_tokens=BUDGET_MAX_TOKENS,
            ).replace(
                "\ndefaults:", f"\nbudget: {{max_usd: {BUDGET_USD}, per: day}}\ndefaults:", 1
            ),
        )
        codes, commands = _processes(workflow, ctx.tmp / "redis_budget", state, PROCESSES)
        stats = server.stats()
    price_in, price_out = _gpt4o_prices()
    prompt, completion = stats["generated_tokens"]
    spend = prompt * price_in + completion * price_out
    checks = (
        Check(
            f"spend at the server <= ${BUDGET_USD}",
            f"${spend:.5f} ({stats['statuses']} ; {prompt} prompt + {completion} completion "
            "tokens)",
            spend <= BUDGET_USD + 1e-12,
        ),
        Check(
            "budget used >= 90%",
            f"{spend / BUDGET_USD * 100:.1f}%",
            spend >= 0.9 * BUDGET_USD,
        ),
        Check("every process stops by budget (exit 3)", str(codes), all(c == 3 for c in codes)),
    )
    details = (
        f"{PROCESSES} `agentflow run` processes started together, {BUDGET_CALLS} independent "
        f"`openai/gpt-4o` agents each (300 ms, max_tokens {BUDGET_MAX_TOKENS}, the server "
        f"answering 1..{BUDGET_MAX_TOKENS} tokens at random), one standing budget "
        f"`{{max_usd: {BUDGET_USD}, per: day}}` shared through `--state redis://`.",
        "Spend = the tokens the server generated at LiteLLM's gpt-4o prices.",
    )
    return Outcome(
        "redis-budget",
        f"{PROCESSES} processes x {BUDGET_CALLS} calls under one standing $0.05/day via Redis",
        "A standing budget in Redis holds across processes: together they never spend past it.",
        checks,
        details,
        tuple(commands),
        time.perf_counter() - started,
    )

"""Scheduling under pressure: who waits when a rate limit binds.

    .venv/bin/python -m benchmarks chain+wide   # a chain beside a wide fan of calls, one rpm
    .venv/bin/python -m benchmarks deadlines    # ten workflows whose deadlines need the right order

Both go through the CLI and the fake server over HTTP, like a user's run. Targets (DESIGN
section 11): the chain + wide makespan <= 1.05 x max(critical path, calls / rate) in both
file orders; every deadline met.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.procs import AGENTFLOW, Completed, command_line, run
from benchmarks.report import Check, Outcome
from benchmarks.server import FakeServer
from benchmarks.workloads import AgentSpec, critical_path_ms, workflow_yaml

if TYPE_CHECKING:
    from benchmarks.suite import Context

CHAIN_LENGTH = 20
CHAIN_MS = 1000
WIDE_AGENTS = 400
WIDE_MS = 200
RPM = 600
TARGET_RATIO = 1.05

DEADLINE_WORKFLOWS = 10
DEADLINE_AGENTS = 50
DEADLINE_MS = 100
DEADLINE_RPM = 1200
DEADLINE_BURST = 5
DEADLINE_MARGIN = 1.15  # each deadline: its share of the limit served in deadline order, + 15%
DEADLINE_SLACK_S = 2.0  # and the start-up of the run


def _run(
    ctx: Context, workflows: list[Path], log_dir: Path
) -> tuple[Completed, dict[str, Any], str]:
    argv = [
        "run",
        *map(str, workflows),
        "--no-progress",
        "--format",
        "json",
        "--log-dir",
        str(log_dir),
    ]
    done = run([AGENTFLOW, *argv], timeout=900.0)
    try:
        document = done.json()
    except json.JSONDecodeError:
        raise RuntimeError(
            f"agentflow run gave no JSON (exit {done.returncode}):\n{done.stderr[-3000:]}"
        ) from None
    from benchmarks.suite import _shown

    return done, document, _shown(command_line([AGENTFLOW, *argv]), ctx)


def _events(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as log:
        return [json.loads(line) for line in log if line.strip()]


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00")).timestamp()


def _with_keys(yaml: str, **keys: Any) -> str:
    """`yaml` with top-level keys added after its `name:` line."""
    lines = yaml.split("\n")
    extra = [f"{key}: {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join([*lines[:2], *extra, *lines[2:]])


# --------------------------------------------------------------------------------- chain+wide


def _chain_and_wide(chain_first: bool) -> list[AgentSpec]:
    chain = [
        AgentSpec(f"c{i:02d}", (f"c{i - 1:02d}",) if i else (), CHAIN_MS)
        for i in range(CHAIN_LENGTH)
    ]
    wide = [AgentSpec(f"w{i:03d}", (), WIDE_MS) for i in range(WIDE_AGENTS)]
    return chain + wide if chain_first else wide + chain


def chain_wide(ctx: Context) -> Outcome:
    started = time.perf_counter()
    checks: list[Check] = []
    details: list[str] = []
    commands: list[str] = []
    calls = CHAIN_LENGTH + WIDE_AGENTS
    rate = RPM / 60.0
    with FakeServer() as server:
        for chain_first in (True, False):
            order = "chain first" if chain_first else "chain last"
            agents = _chain_and_wide(chain_first)
            critical = critical_path_ms(agents) / 1000.0
            bound = max(critical, calls / rate)
            name = "pressure_chain_first" if chain_first else "pressure_chain_last"
            path = ctx.write(
                f"{name}.yaml",
                workflow_yaml(
                    name,
                    agents,
                    api_base=server.base_url,
                    timeout="60s",
                    limits={"*": {"rpm": RPM, "burst": 1}},
                ),
            )
            server.reset()
            done, doc, command = _run(ctx, [path], ctx.log_dir("pressure"))
            commands.append(command)
            served = [r for r in server.requests() if r.status == 200]
            if done.returncode != 0 or len(served) != calls:
                raise RuntimeError(
                    f"chain+wide ({order}): exit {done.returncode}, {server.stats()}"
                )
            events = _events(doc["log_path"])
            start = next(_ts(e) for e in events if e["event"] == "run.started")
            chain_end = max(
                _ts(e)
                for e in events
                if e["event"] == "agent.completed" and str(e["agent"]).startswith("c")
            )
            makespan = float(doc["duration_s"])
            ratio = makespan / bound
            checks.append(
                Check(
                    f"{order}: makespan <= {TARGET_RATIO:g} x max(critical path, calls / rate)",
                    f"{ratio:.3f} x ({makespan:.2f} s vs {bound:g} s)",
                    ratio <= TARGET_RATIO,
                )
            )
            details.append(
                f"{order}: makespan {makespan:.2f} s; the chain finished {chain_end - start:.2f} s "
                f"after run.started (its own critical path is {critical:g} s)."
            )
    details.insert(
        0,
        f"One workflow: a chain of {CHAIN_LENGTH} agents ({CHAIN_MS} ms each at the server) "
        f'beside {WIDE_AGENTS} independent agents ({WIDE_MS} ms), `limits: {{"*": {{rpm: '
        f"{RPM}, burst: 1}}}}`: the lower bound is max({CHAIN_LENGTH * CHAIN_MS / 1000:g} s, "
        f"{calls} calls / {rate:g} per s = {calls / rate:g} s). Makespan is the run's "
        "`duration_s`. One run per file order.",
    )
    return Outcome(
        "chain+wide",
        "Critical path first when a limit binds",
        "`agentflow run` of one workflow whose long chain must not wait behind the queue of "
        "independent calls under one rate limit: its makespan against the lower bound "
        "max(critical path, calls / rate), in both file orders, against the fake server "
        "(`.venv/bin/python -m benchmarks chain+wide`).",
        tuple(checks),
        tuple(details),
        tuple(commands),
        time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------- deadlines


def deadline_seconds(k: int) -> float:
    """Workflow k's (1-based) deadline: its calls and all earlier-deadline ones at the rate."""
    share = k * DEADLINE_AGENTS / (DEADLINE_RPM / 60.0)
    return math.ceil((share * DEADLINE_MARGIN + DEADLINE_SLACK_S) * 10) / 10


def _deadline_run(
    ctx: Context, server: FakeServer, with_deadlines: bool
) -> tuple[dict[str, float], dict[str, float], int, str]:
    """Deadlines, finish times (s after run.started), deadline_missed events, command."""
    total = DEADLINE_WORKFLOWS * DEADLINE_AGENTS
    paths = []
    due: dict[str, float] = {}
    # Latest deadline first in the command line and so first to arrive: first come,
    # first served would serve the most pressing workflow last.
    for k in range(DEADLINE_WORKFLOWS, 0, -1):
        name = f"pressure_deadline_{k:02d}"
        due[name] = deadline_seconds(k)
        agents = [AgentSpec(f"a{i:03d}", (), DEADLINE_MS) for i in range(DEADLINE_AGENTS)]
        yaml = workflow_yaml(
            name,
            agents,
            api_base=server.base_url,
            timeout="60s",
            limits={"*": {"rpm": DEADLINE_RPM, "burst": DEADLINE_BURST}},
        )
        if with_deadlines:
            yaml = _with_keys(yaml, deadline=f"{due[name]}s")
        suffix = "" if with_deadlines else "_fifo"
        paths.append(ctx.write(f"{name}{suffix}.yaml", yaml))
    server.reset()
    done, doc, command = _run(ctx, paths, ctx.log_dir("pressure"))
    served = [r for r in server.requests() if r.status == 200]
    if done.returncode != 0 or len(served) != total:
        raise RuntimeError(f"deadlines: exit {done.returncode}, {server.stats()}")
    events = _events(doc["log_path"])
    start = next(_ts(e) for e in events if e["event"] == "run.started")
    finished = {e["workflow"]: _ts(e) - start for e in events if e["event"] == "workflow.completed"}
    missed = sum(1 for e in events if e["event"] == "workflow.deadline_missed")
    return due, finished, missed, command


def deadlines(ctx: Context) -> Outcome:
    started = time.perf_counter()
    rate = DEADLINE_RPM / 60.0
    total = DEADLINE_WORKFLOWS * DEADLINE_AGENTS
    with FakeServer() as server:
        due, finished, missed, command = _deadline_run(ctx, server, True)
        _, fifo, _, fifo_command = _deadline_run(ctx, server, False)
    met = [name for name, limit in due.items() if finished[name] <= limit]
    fifo_met = [name for name, limit in due.items() if fifo[name] <= limit]
    checks = [
        Check(
            f"{DEADLINE_WORKFLOWS} workflows x {DEADLINE_AGENTS} agents: every deadline met",
            f"{len(met)} of {len(due)} met; {missed} workflow.deadline_missed",
            len(met) == len(due) and not missed,
        ),
        Check(
            "the same files without deadline: (arrival order) would meet",
            f"{len(fifo_met)} of {len(due)}",
            None,
        ),
    ]
    details = [
        f"{DEADLINE_WORKFLOWS} workflow files x {DEADLINE_AGENTS} independent agents "
        f'({DEADLINE_MS} ms each), `limits: {{"*": {{rpm: {DEADLINE_RPM}, burst: '
        f"{DEADLINE_BURST}}}}}`: {total} calls at {rate:g} per s take {total / rate:g} s. "
        f"Workflow k's deadline is (k x {DEADLINE_AGENTS} / {rate:g}) x {DEADLINE_MARGIN} + "
        f"{DEADLINE_SLACK_S} s: served earliest deadline first, every workflow finishes "
        "well within its deadline. The files are given latest deadline first, so serving in "
        "arrival order is the worst order and misses the earliest ones.",
        "Finish (s after run.started) vs deadline: "
        + ", ".join(f"{name[-2:]}: {finished[name]:.2f}/{due[name]:g}" for name in sorted(due)),
        "The same files without `deadline:`: "
        + ", ".join(f"{name[-2:]}: {fifo[name]:.2f}" for name in sorted(due)),
    ]
    return Outcome(
        "deadlines",
        "Deadlines met by serving the least slack first",
        "`agentflow run` of ten workflow files that share one rate limit, each with a "
        "`deadline:` it meets only if the calls with the least slack go first; then the same "
        "files without deadlines, for comparison (`.venv/bin/python -m benchmarks deadlines`).",
        tuple(checks),
        tuple(details),
        (command, fifo_command),
        time.perf_counter() - started,
    )

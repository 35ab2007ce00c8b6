"""A standing `per: day` budget across 5 consecutive `agentflow run` processes.

    standing   the same workflow run 5 times in a row, `budget: {max_usd: 0.025, per: day}`,
               6 gpt-4o agents a run, random answer lengths up to 200 tokens: once in the
               local state db, once in a redis-server

Judged at the fake server: what it generated, at LiteLLM's gpt-4o prices, over all five runs.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.procs import AGENTFLOW, child_env, command_line
from benchmarks.redis import _gpt4o_prices, redis_server
from benchmarks.report import Check, Outcome
from benchmarks.server import FakeServer
from benchmarks.workloads import independent_agents, workflow_yaml

RUNS = 5
AGENTS = 6
MAX_USD, MAX_TOKENS = 0.025, 200


def _runs(workflow: Path, log_dir: Path, state: str | None) -> tuple[list[int], list[float], str]:
    """Run the workflow RUNS times, one process after another: exit codes, costs reported."""
    codes, reported = [], []
    argv: list[str] = []
    for n in range(RUNS):
        argv = [AGENTFLOW, "run", str(workflow), "--no-progress", "--format", "json"]
        argv += ["--log-dir", str(log_dir), "--run-id", f"day-{n}"]
        if state is not None:
            argv += ["--state", state]
        done = subprocess.run(argv, env=child_env(), capture_output=True, text=True, timeout=600)
        if done.returncode not in (0, 3):
            raise RuntimeError(f"agentflow run failed ({done.returncode}): {done.stderr[-2000:]}")
        codes.append(done.returncode)
        reported.append(float(json.loads(done.stdout)["totals"]["cost_usd"] or 0.0))
    return codes, reported, command_line(argv)


def standing(ctx: Any) -> Outcome:
    started = time.perf_counter()
    price_in, price_out = _gpt4o_prices()
    checks: list[Check] = []
    details: list[str] = [
        f"The same workflow run {RUNS} times in a row by `agentflow run` processes, {AGENTS} "
        f"independent `openai/gpt-4o` agents a run (100 ms, max_tokens {MAX_TOKENS}, the "
        f"server answering 1..{MAX_TOKENS} tokens at random), `budget: {{max_usd: {MAX_USD}, "
        "per: day}`: once with the account in the local state db (beside the log dir), once "
        "in a fresh redis-server (`--state redis://`).",
        "Spend = the tokens the server generated at LiteLLM's gpt-4o prices, over all runs.",
    ]
    commands: list[str] = []
    with FakeServer() as server:
        for where in ("state db", "redis"):
            server.reset()
            server.control(latency_ms=100, completion_range=[1, MAX_TOKENS], seed=11)
            name = "standing_" + where.replace(" ", "_")
            yaml = workflow_yaml(
                name,
                independent_agents(AGENTS),
                api_base=server.base_url,
                model="openai/gpt-4o",
                max_tokens=MAX_TOKENS,
            ).replace("\ndefaults:", f"\nbudget: {{max_usd: {MAX_USD}, per: day}}\ndefaults:", 1)
            workflow = ctx.write(f"{name}.yaml", yaml)
            log_dir = ctx.log_dir(name)
            if where == "redis":
                with redis_server() as url:
                    codes, reported, command = _runs(workflow, log_dir, url)
            else:
                codes, reported, command = _runs(workflow, log_dir, None)
            commands.append(command.replace(str(ctx.tmp), "$TMP"))
            prompt, completion = server.stats()["generated_tokens"]
            spend = prompt * price_in + completion * price_out
            checks += [
                Check(
                    f"{where}: spend over {RUNS} runs at the server <= ${MAX_USD}",
                    f"${spend:.5f} (the runs reported ${sum(reported):.5f})",
                    spend <= MAX_USD + 1e-12 and sum(reported) >= spend - 1e-9,
                ),
                Check(
                    f"{where}: budget used >= 90%",
                    f"{spend / MAX_USD * 100:.1f}%",
                    spend >= 0.9 * MAX_USD,
                ),
                Check(
                    f"{where}: runs go on until the day's budget is spent, then exit 3",
                    f"exit codes {codes}",
                    codes[0] == 0 and codes[-1] == 3 and codes == sorted(codes),
                ),
            ]
            details.append(
                f"{where}: cost each run reported "
                + ", ".join(f"${c:.5f}" for c in reported)
                + f"; the server answered {server.stats()['statuses']}."
            )
    return Outcome(
        "standing",
        f"a standing $%g/day budget across {RUNS} consecutive runs" % MAX_USD,
        "A standing budget holds across runs: consecutive processes of one workflow never "
        "spend more than the day's budget, kept locally or in Redis.",
        tuple(checks),
        tuple(details),
        tuple(commands),
        time.perf_counter() - started,
    )

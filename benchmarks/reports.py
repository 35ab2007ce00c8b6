"""The `report` benchmark: `agentflow report` of a 5,000-agent run in every format.

    log_dir, run_id = synthetic_run(tmp, agents=5000)

The run log is synthetic but shaped like a real one (one event per line, as the engine writes
them): a layered DAG of 5,000 agents, one call each, some retried after a 500, some held by a
rate limit, a few failing with their dependants skipped. Its workflow file is written beside
it with the sha256 the log records, so the report draws the DAG too. Each format is timed as
a whole `agentflow report` process (start-up included), like a user would wait for it.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.procs import AGENTFLOW, run
from benchmarks.report import Check, Outcome, median, runs
from benchmarks.workloads import layered_dag, workflow_yaml

FORMATS = ("text", "markdown", "json", "junit", "html")
TARGET_S = 3.0
HTML_LIMIT = 5 * 1024 * 1024
REPEATS = 3
MODEL = "openai/gpt-4o-mini"
_START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp()


def _ts(seconds: float) -> str:
    moment = datetime.fromtimestamp(_START + seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def synthetic_run(folder: Path, *, agents: int = 5000, seed: int = 14) -> tuple[Path, str]:
    """Write a run log of `agents` agents (and its workflow file) under `folder`."""
    width = 250 if agents >= 1000 else max(1, agents // 4)
    levels = -(-agents // width)
    specs = layered_dag(levels=levels, width=width, seed=seed, latency_ms=(200, 900))[:agents]
    folder.mkdir(parents=True, exist_ok=True)
    flow = folder / "big.yaml"
    flow.write_text(workflow_yaml("big_dag", specs, api_base=None), encoding="utf-8")
    digest = hashlib.sha256(flow.read_bytes()).hexdigest()
    log_dir = folder / "runs"
    log_dir.mkdir(exist_ok=True)
    run_id = f"r-synthetic-{agents}"
    rng = random.Random(seed)
    lines: list[dict[str, Any]] = []

    def emit(t: float, event: str, agent: str | None = None, **data: Any) -> None:
        scope = agent is not None or event.startswith("workflow.")
        lines.append(
            {
                "v": 1,
                "seq": len(lines) + 1,
                "ts": _ts(t),
                "run_id": run_id,
                "event": event,
                "workflow": "big_dag" if scope else None,
                "instance": 0 if scope else None,
                "agent": agent,
                **data,
            }
        )

    emit(
        0.0,
        "run.started",
        workflows=["big_dag"],
        instances=1,
        mock=True,
        budget_usd=None,
        max_concurrency=512,
        price_map={"litellm_version": "1.0", "sha256": "0" * 64, "overrides": {}},
        log_path=str(log_dir / f"{run_id}.jsonl"),
        parent_run_id=None,
        agentflow_version="0.1.0",
        command=["agentflow", "run", str(flow), "--mock"],
        files=[{"path": str(flow), "sha256": digest}],
    )
    emit(0.0, "workflow.started", inputs={}, agents=len(specs))
    finish: dict[str, float] = {}
    broken: dict[str, str] = {}  # agent -> the failed agent behind its skip
    cost_total = 0.0
    calls_total = 0
    counts = {"completed": 0, "failed": 0, "skipped": 0}
    late = f"l{max(0, levels - 3):03d}"
    for spec in specs:
        start = max((finish[d] for d in spec.deps), default=0.0)
        cause = next((broken[d] for d in spec.deps if d in broken), None)
        if cause is not None:
            broken[spec.id] = cause
            finish[spec.id] = start
            emit(
                start,
                "agent.skipped",
                spec.id,
                reason="dependency_failed",
                detail=f"'{cause}' failed (bad_request)",
            )
            counts["skipped"] += 1
            continue
        emit(start, "agent.started", spec.id, model=MODEL, items=None)
        t = start
        if rng.random() < 0.05:
            emit(
                t,
                "ratelimit.wait",
                spec.id,
                key="openai/*",
                reason="rpm",
                expected_wait_s=0.5,
                model=MODEL,
            )
            t += 0.5
        attempt = 1
        calls = 0
        if rng.random() < 0.05:
            emit(
                t,
                "llm.request",
                spec.id,
                model=MODEL,
                attempt=1,
                round=0,
                index=None,
                prompt_tokens_est=40,
                max_tokens=64,
            )
            t += 0.2
            emit(
                t,
                "llm.retry",
                spec.id,
                model=MODEL,
                attempt=1,
                delay_s=0.5,
                error_class="server_error",
                message="500 Internal Server Error",
                index=None,
            )
            t += 0.5
            attempt = 2
            calls += 1
        emit(
            t,
            "llm.request",
            spec.id,
            model=MODEL,
            attempt=attempt,
            round=0,
            index=None,
            prompt_tokens_est=40,
            max_tokens=64,
        )
        calls += 1
        latency = spec.latency_ms / 1000
        t += latency
        if spec.id >= late and rng.random() < 0.01:  # late failures: most of the DAG runs
            emit(
                t,
                "agent.failed",
                spec.id,
                model=MODEL,
                error_class="bad_request",
                message="400 Bad Request: invalid schema",
                cost_usd=0.0,
                unconfirmed_cost_usd=0.0,
                input_tokens=0,
                output_tokens=0,
                calls=calls,
                duration_s=round(t - start, 3),
                attempts=attempt,
            )
            broken[spec.id] = spec.id
            counts["failed"] += 1
        else:
            cost = 0.000042
            emit(
                t,
                "llm.response",
                spec.id,
                model=MODEL,
                attempt=attempt,
                round=0,
                index=None,
                input_tokens=120,
                output_tokens=40,
                cost_usd=cost,
                latency_s=latency,
                finish_reason="stop",
                tool_calls=0,
            )
            emit(
                t,
                "agent.completed",
                spec.id,
                model=MODEL,
                output={"ok": True},
                cost_usd=cost,
                unconfirmed_cost_usd=0.0,
                input_tokens=120,
                output_tokens=40,
                calls=calls,
                duration_s=round(t - start, 3),
                attempts=attempt,
            )
            cost_total += cost
            counts["completed"] += 1
        calls_total += calls
        finish[spec.id] = t
    end = max(finish.values(), default=0.0)
    status = "failed" if counts["failed"] else "ok"
    emit(
        end,
        "workflow.completed",
        status=status,
        outputs={},
        cost_usd=round(cost_total, 10),
        unconfirmed_cost_usd=0.0,
        duration_s=end,
        agents=counts,
    )
    emit(
        end,
        "run.completed",
        status=status,
        exit_code=1 if counts["failed"] else 0,
        duration_s=end,
        totals={"cost_usd": round(cost_total, 10), "calls": calls_total, "agents": counts},
    )
    path = log_dir / f"{run_id}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return log_dir, run_id


def report_bench(ctx: Any) -> Outcome:
    """Every format of `agentflow report` on the 5,000-agent log, as whole processes."""
    started = time.perf_counter()
    log_dir, run_id = synthetic_run(ctx.tmp / "report", agents=5000)
    out_dir = ctx.tmp / "report" / "out"
    out_dir.mkdir(exist_ok=True)
    timings: dict[str, list[float]] = {f: [] for f in FORMATS}
    startup: list[float] = []  # the same process doing nothing: what start-up alone costs
    commands: list[str] = []
    for _ in range(REPEATS):
        startup.append(run([AGENTFLOW, "schema", "report"]).wall_s)
        for fmt in FORMATS:  # formats alternate within a round: load drifts hit them alike
            target = out_dir / f"report.{fmt}"
            argv = [
                AGENTFLOW,
                "report",
                run_id,
                "--log-dir",
                str(log_dir),
                "-f",
                fmt,
                "-o",
                str(target),
            ]
            done = run(argv)
            if done.returncode != 0:
                raise RuntimeError(f"report -f {fmt} failed: {done.stderr[-2000:]}")
            timings[fmt].append(done.wall_s)
            if len(commands) < len(FORMATS):
                commands.append(" ".join(["agentflow", *argv[1:]]).replace(str(ctx.tmp), "<tmp>"))
    html_bytes = (out_dir / "report.html").stat().st_size
    checks = [
        Check(
            f"report -f {fmt} of 5,000 agents < {TARGET_S:g} s",
            f"{median(v):.2f} s (median)",
            median(v) < TARGET_S,
        )
        for fmt, v in timings.items()
    ]
    checks.append(
        Check("HTML of 5,000 agents < 5 MB", f"{html_bytes / 1e6:.2f} MB", html_bytes < HTML_LIMIT)
    )
    return Outcome(
        id="report",
        title="agentflow report of a 5,000-agent run",
        method=(
            "a synthetic 5,000-agent run log (layered DAG 20 x 250, 5% retried, 5% rate-limited, "
            f"1% of the last 3 levels failed with dependants skipped); each format timed as a whole process, "
            f"{REPEATS} rounds, formats alternating"
        ),
        checks=tuple(checks),
        details=(
            *(f"{fmt}: {runs(v)}" for fmt, v in timings.items()),
            f"start-up alone (agentflow schema report): {runs(startup)}",
        ),
        commands=tuple(commands),
        seconds=time.perf_counter() - started,
    )

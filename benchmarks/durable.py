"""Benchmarks of durable state: listing run history (`agentflow runs`)."""

from __future__ import annotations

import json
import random
import time

from benchmarks.procs import AGENTFLOW, command_line, run
from benchmarks.report import Check, Outcome, median, runs, seconds

HISTORY_RUNS = 1000
HISTORY_UNFINISHED = 20
HISTORY_AGENTS = 10
HISTORY_TARGET_S = 1.0


def _event(seq: int, ts: str, run_id: str, event: str, **data: object) -> str:
    record = {"v": 1, "seq": seq, "ts": ts, "run_id": run_id, "event": event}
    record.update(workflow=None, instance=None, agent=None)
    record.update(data)
    return json.dumps(record, separators=(",", ":")) + "\n"


def _log(run_id: str, day: int, minute: int, finished: bool, rng: random.Random) -> str:
    ts = f"2026-11-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00.000Z"
    name = rng.choice(("invoices", "payroll", "onboarding"))
    lines = [_event(1, ts, run_id, "run.started", workflows=[name], instances=1, mock=False)]
    seq = 2
    for a in range(HISTORY_AGENTS):
        common = {"workflow": name, "instance": 0, "agent": f"agent_{a}"}
        lines.append(_event(seq, ts, run_id, "agent.started", **common, model="openai/gpt-4o"))
        lines.append(_event(seq + 1, ts, run_id, "llm.request", **common, attempt=1))
        cost = round(rng.uniform(0.001, 0.01), 6)
        lines.append(_event(seq + 2, ts, run_id, "llm.response", **common, cost_usd=cost))
        lines.append(
            _event(seq + 3, ts, run_id, "agent.completed", **common, output={"text": "x" * 400})
        )
        seq += 4
    if finished:
        totals = {"cost_usd": 0.05, "unknown_cost_calls": 0, "calls": HISTORY_AGENTS}
        lines.append(
            _event(
                seq,
                ts,
                run_id,
                "run.completed",
                status="ok",
                exit_code=0,
                duration_s=12.5,
                totals=totals,
            )
        )
    return "".join(lines)


def history(ctx: object) -> Outcome:
    from benchmarks.suite import Context

    assert isinstance(ctx, Context)
    started = time.perf_counter()
    log_dir = ctx.log_dir("history")
    rng = random.Random(13)
    total = HISTORY_RUNS + HISTORY_UNFINISHED
    for n in range(total):
        run_id = f"r{n:05d}"
        finished = n >= HISTORY_UNFINISHED
        text = _log(run_id, 1 + n % 28, n % 1440, finished, rng)
        (log_dir / f"{run_id}.jsonl").write_text(text, encoding="utf-8")
    size_mb = sum(p.stat().st_size for p in log_dir.iterdir()) / 1e6
    argv_text = [AGENTFLOW, "runs", "--log-dir", str(log_dir)]
    argv_json = [*argv_text, "--format", "json"]
    argv_trend = [*argv_text, "--workflow", "invoices"]
    measured = {}
    for label, argv in (("text", argv_text), ("json", argv_json), ("trend", argv_trend)):
        times = []
        for _ in range(5):
            done = run(argv)
            if done.returncode != 0:
                raise RuntimeError(f"{command_line(argv)} exited {done.returncode}: {done.stderr}")
            times.append(done.wall_s)
        measured[label] = times
    listed = len(json.loads(run(argv_json).stdout)["runs"])
    checks = (
        Check(
            f"`agentflow runs` lists {total:,} past runs in < {HISTORY_TARGET_S:g} s",
            f"{seconds(median(measured['text']))} (json {seconds(median(measured['json']))}, "
            f"with --workflow trend {seconds(median(measured['trend']))}); {listed} listed",
            median(measured["text"]) < HISTORY_TARGET_S
            and median(measured["json"]) < HISTORY_TARGET_S
            and listed == total,
        ),
    )
    details = (
        f"{HISTORY_RUNS:,} finished logs and {HISTORY_UNFINISHED} cut short (no "
        f"`run.completed`, summed line by line), {HISTORY_AGENTS} agents each, "
        f"{size_mb:.1f} MB of logs; the whole CLI process, start to exit, median of 5.",
        f"text: {runs(measured['text'])}; json: {runs(measured['json'])}; "
        f"trend: {runs(measured['trend'])}.",
    )
    commands = tuple(
        command_line(a).replace(str(log_dir), "<log dir>")
        for a in (argv_text, argv_json, argv_trend)
    )
    return Outcome(
        "history",
        f"run history of {total:,} runs",
        "`agentflow runs` reads every log's first and last line; no index to keep in step.",
        checks,
        details,
        commands,
        time.perf_counter() - started,
    )

"""Benchmarks of durable state: listing run history (`agentflow runs`)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

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


# ------------------------------------------------------------------------ kill and resume

KILL_AGENTS = 300
KILL_LATENCY_MS = 500
KILL_CONCURRENCY = 100
KILL_TRIALS = 5


def _kill_workflow(base_url: str) -> str:
    agents = {
        f"a{i}": {"prompt": f"Check invoice tag-{i}. [[latency_ms={KILL_LATENCY_MS}]]"}
        for i in range(KILL_AGENTS)
    }
    document = {
        "version": 1,
        "name": "kill_resume",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 40, "api_base": base_url},
        "agents": agents,
    }
    return json.dumps(document, indent=1)


def _tag_of(body: dict[str, object]) -> str:
    text = json.dumps(body.get("messages"))
    start = text.index("tag-")
    end = start + 4
    while end < len(text) and text[end].isdigit():
        end += 1
    return text[start:end]


def _responses_in(log: Path) -> int:
    if not log.exists():
        return 0
    return sum(
        1 for line in log.read_text(encoding="utf-8").splitlines() if '"llm.response"' in line
    )


def kill_resume(ctx: object) -> Outcome:
    import signal
    import subprocess

    from benchmarks.procs import child_env
    from benchmarks.suite import Context
    from tests.fakeserver import ServerThread

    assert isinstance(ctx, Context)
    started = time.perf_counter()
    rng = random.Random(11)
    rows = []
    commands: list[str] = []
    with ServerThread() as server:
        for trial in range(KILL_TRIALS):
            server.reset()
            folder = ctx.tmp / f"kill-{trial}"
            folder.mkdir()
            flow = folder / "flow.yaml"
            flow.write_text(_kill_workflow(server.base_url), encoding="utf-8")
            logs = folder / "logs"
            run_argv = [
                AGENTFLOW,
                "run",
                str(flow),
                "--log-dir",
                str(logs),
                "--run-id",
                "killed",
                "--max-concurrency",
                str(KILL_CONCURRENCY),
                "--no-progress",
                "-q",
            ]
            target = rng.randint(20, KILL_AGENTS - 40)
            process = subprocess.Popen(
                run_argv, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            log = logs / "killed.jsonl"
            deadline = time.monotonic() + 120
            while _responses_in(log) < target and time.monotonic() < deadline:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            first_run = list(server.requests)
            resume_argv = [
                AGENTFLOW,
                "resume",
                "killed",
                "--log-dir",
                str(logs),
                "--run-id",
                "resumed",
                "--no-progress",
                "-q",
                "--format",
                "json",
            ]
            done = run(resume_argv, cwd=folder, timeout=300)
            document = json.loads(done.stdout) if done.stdout.strip() else {}
            second_run = list(server.requests)[len(first_run) :]
            answered_first = {
                _tag_of(r.body) for r in first_run if r.status == 200 and r.finished is not None
            }
            with sqlite3.connect(folder / "state.db") as db:
                rows_db = db.execute("SELECT agent FROM responses WHERE run_id = 'killed'")
                journaled = {"tag-" + str(a)[1:] for (a,) in rows_db.fetchall()}
            asked_again = [_tag_of(r.body) for r in second_run]
            twice = [t for t in asked_again if t in answered_first]
            # Received by the killed run (it journals an answer the moment it has it) and yet
            # asked for again: a paid answer lost.
            lost = [t for t in asked_again if t in journaled]
            events = [json.loads(x) for x in (logs / "resumed.jsonl").read_text().splitlines()]
            finished = {
                e["agent"] for e in events if e["event"] in ("agent.completed", "agent.reused")
            }
            replayed = sum(1 for e in events if e["event"] == "llm.response" and e.get("replayed"))
            rows.append(
                {
                    "logged": target,
                    "journaled": len(journaled),
                    "answered_before": len(answered_first),
                    "replayed": replayed,
                    "asked_again": len(asked_again),
                    "twice_in_flight": len(twice),
                    "lost": len(lost),
                    "completed": len(finished),
                    "status": document.get("status"),
                    "exit": done.returncode,
                }
            )
            if trial == 0:
                commands = [
                    command_line(run_argv).replace(str(folder), "<tmp>"),
                    "(SIGKILL once the log has N answers, N random)",
                    command_line(resume_argv).replace(str(folder), "<tmp>"),
                ]
    all_done = all(r["completed"] == KILL_AGENTS and r["exit"] == 0 for r in rows)
    lost_total = sum(r["lost"] for r in rows)
    checks = (
        Check(
            f"after SIGKILL at {KILL_TRIALS} random moments, resume completes all "
            f"{KILL_AGENTS} agents",
            ", ".join(f"{r['completed']}/{KILL_AGENTS} ({r['status']})" for r in rows),
            all_done,
        ),
        Check(
            "answers the killed run had received and then asked for again (lost, re-paid)",
            str(lost_total),
            lost_total == 0,
        ),
    )
    details = (
        f"{KILL_AGENTS} independent agents, {KILL_LATENCY_MS} ms each at the server, "
        f"{KILL_CONCURRENCY} in flight; the run is killed with SIGKILL once its log holds a "
        "random number of answers, then `agentflow resume` finishes it. Counted at the server "
        "and in the journal: an answer the killed run had received (journaled: it commits an "
        "answer the moment it has it) and that the resume asked for again counts as lost. "
        "A request the server had answered but whose answer had not reached the killed "
        "process (in flight, or still in its socket) is asked again: at-least-once by design "
        "(docs/durability.md).",
        *(
            f"trial {n + 1}: killed with {r['logged']}+ answers logged, {r['journaled']} "
            f"journaled, {r['answered_before']} answered at the server; resume replayed "
            f"{r['replayed']} journaled answers that had no log line yet and asked "
            f"{r['asked_again']} again ({r['twice_in_flight']} of them answered at the server "
            f"before the kill but not received, {r['lost']} lost)"
            for n, r in enumerate(rows)
        ),
    )
    return Outcome(
        "B11-kill",
        "SIGKILL, then resume: nothing lost, nothing paid twice",
        "A run killed mid-flight and resumed, counted at the fake server.",
        checks,
        details,
        tuple(commands),
        time.perf_counter() - started,
    )

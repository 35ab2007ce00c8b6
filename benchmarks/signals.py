"""`sweep`: a SIGTERM at every moment of a run's life, from launch to past `run.completed`.

The suite's e2e test (tests/e2e/test_signals.py) sends six well-chosen signals; this sends
one every 0.2 s, to a fresh run each time, until the run had already exited when its
signal was due. Each run must exit 143, leave no empty log (no log, or one that ends with
`run.completed`), and no request may reach the server after its signal.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from benchmarks.report import Check, Outcome
from tests.e2e.cli import read_log, start_cli, write_workflow
from tests.e2e.test_signals import _handles_sigterm, _sweep_flow
from tests.fakeserver import ServerThread

STEP_S = 0.2
LATE_S = 0.3  # a request written just before the signal may be read a moment after it
MAX_POINTS = 80


def _one(folder: Path, delay: float) -> tuple[int | None, str | None, int]:
    """(exit code, or None when the run ended before its signal; a problem; late calls)."""
    with ServerThread() as server:
        flow = write_workflow(folder, _sweep_flow(server))
        launched = time.monotonic()
        run = start_cli(flow, "--no-progress", cwd=folder, run_id="r-sweep")
        try:
            while time.monotonic() - launched < delay and run.process.poll() is None:
                time.sleep(0.005)
            while not _handles_sigterm(run) and run.process.poll() is None:
                time.sleep(0.005)  # the interpreter itself is still starting
            if run.process.poll() is not None:
                run.finish()
                return None, None, 0
            sent = time.time()
            run.process.send_signal(signal.SIGTERM)
            outcome = run.finish(timeout=120)
        finally:
            run.kill()
        late = sum(1 for r in list(server.requests) if r.received_at > sent + LATE_S)
    problem = None
    for log in (folder / "logs").glob("*.jsonl"):
        if log.stat().st_size == 0:
            problem = "an empty log"
        elif read_log(log)[-1]["event"] != "run.completed":
            problem = "a log without run.completed"
    if "Traceback" in outcome.stderr:
        problem = "a traceback on stderr"
    return outcome.returncode, problem, late


def sweep(ctx: Any) -> Outcome:
    started = time.perf_counter()
    tmp = Path(ctx.tmp)
    codes: dict[int, int] = {}
    problems: list[str] = []
    late_total = 0
    points = 0
    delay = 0.1
    while points < MAX_POINTS:
        folder = tmp / f"sweep-{points}"
        folder.mkdir(parents=True)
        code, problem, late = _one(folder, delay)
        if code is None:
            break
        points += 1
        codes[code] = codes.get(code, 0) + 1
        if problem:
            problems.append(f"{delay:.1f} s: {problem}")
        if late:
            problems.append(f"{delay:.1f} s: {late} request(s) after the signal")
        late_total += late
        delay += STEP_S
    checks = (
        Check(
            "exit 143 at every moment",
            ", ".join(f"{n} x exit {c}" for c, n in sorted(codes.items())) or "no point",
            bool(codes) and set(codes) == {143},
        ),
        Check(
            "no empty or unfinished log, no traceback",
            "; ".join(problems) or "none",
            not [p for p in problems if "request" not in p],
        ),
        Check("no request reaches the server after the signal", str(late_total), late_total == 0),
    )
    details = (
        f"A 3 x 10 layered workflow (300 ms calls) against the fake server; a fresh run per "
        f"point, SIGTERM at 0.1 s after launch and every {STEP_S} s after, up to {delay:.1f} s "
        "(the first point at which the run had already exited).",
        f"{points} points. A request counts as late when it reached the server more than "
        f"{LATE_S} s after the signal went.",
    )
    return Outcome(
        "sweep",
        "SIGTERM from launch to exit",
        "`agentflow run` under a SIGTERM at any moment: exit 143, no empty log, nothing sent "
        "after the signal.",
        checks,
        details,
        ("python -m benchmarks sweep",),
        time.perf_counter() - started,
    )

"""`agentflow worker --queue redis://...`: join queued runs until idle or stopped."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from agentflow.defaults import DEFAULT_MAX_CONCURRENCY, DEFAULT_STATE
from agentflow.errors import UsageError
from agentflow.redaction import redact
from agentflow.run import signals
from agentflow.run.launch import stopped_by_signals
from agentflow.values import check_seconds


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What `agentflow worker` was asked to do."""

    queue: str
    state: Path | None = None
    shared_state: str | None = None
    max_workflows: int = 100
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    run_id: str | None = None
    exit_when_idle: bool = False
    lease: float | None = None
    grace: float = 20.0


def worker_command(options: WorkerOptions) -> int:
    """Work on queued runs; 0 when idle (or the run is done), 143/130 when stopped."""
    from agentflow.run.worker import Worker, WorkerSettings
    from agentflow.state.redis_conn import parse_redis_url

    target = parse_redis_url(options.queue, option="--queue")
    check_seconds("--grace", options.grace)
    if options.lease is not None and not options.lease > 0:
        raise UsageError("--lease must be more than 0 seconds")

    def warn(line: str) -> None:
        print(f"agentflow: warning: {redact(line)}", file=sys.stderr, flush=True)

    worker = Worker(
        WorkerSettings(
            queue_url=options.queue,
            state_path=options.state or DEFAULT_STATE,
            shared_state=options.shared_state,
            max_workflows=options.max_workflows,
            max_concurrency=options.max_concurrency,
            run_id=options.run_id,
            exit_when_idle=options.exit_when_idle,
            lease_s=options.lease,
            grace_s=options.grace,
        ),
        warn=warn,
    )

    async def work() -> None:
        with stopped_by_signals(worker.request_stop):
            await worker.run()

    print(f"agentflow worker {worker.report.consumer}: {target.display()}", file=sys.stderr)
    asyncio.run(work())
    report = worker.report
    print(
        f"agentflow worker {report.consumer}: {report.instances} instances done"
        + (f", {report.handed_back} handed back" if report.handed_back else "")
        + (f"; stopped by {report.stopped_by}" if report.stopped_by else ""),
        file=sys.stderr,
    )
    return signals.exit_code(signals.EXIT_CODES.get(report.stopped_by or "", 0))

"""`agentflow resume RUN_ID` and `agentflow retry RUN_ID`: a new run that continues an old one."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentflow.cli.boundary import use_secret_env
from agentflow.cli.run_cmd import run_command
from agentflow.core import load_workflow
from agentflow.errors import UsageError
from agentflow.run.launch import RunOptions
from agentflow.state.lineage import Continuation, continue_run, lineage_of, sha256_of


@dataclass(frozen=True, slots=True)
class ContinueOptions:
    """What `resume` / `retry` were asked; display and output flags are those of `run`."""

    mode: str  # resume | retry
    run_id: str
    log_dir: Path
    state: Path | None = None
    shared_state: str | None = None  # --state redis://...: limits and standing budgets
    budget_usd: float | None = None
    allow_changed: bool = False
    select: tuple[str, ...] = ()
    new_run_id: str | None = None
    output: Path | None = None
    format: str = "text"
    progress: bool = True
    quiet: bool = False
    argv: tuple[str, ...] = ()
    metrics_file: Path | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    queue: str | None = None  # --queue redis://...: continue through the work queue


@contextmanager
def _exclusive(log_dir: Path, run_id: str) -> Iterator[None]:
    """Only one process continues a run at a time (the lock goes with the process)."""
    path = log_dir / f"{run_id}.lock"
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"run '{run_id}' is being resumed or retried by another process right now; "
                "wait for it to finish (agentflow runs shows the new run)"
            ) from None
        yield
    finally:
        os.close(handle)


def _dependants(files: tuple[Path, ...]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for file in files:
        for agent in load_workflow(file).agents:
            for dep in agent.depends_on:
                out.setdefault(dep, set()).add(agent.id)
    return out


def _input_values(recorded: object) -> tuple[dict[str, Any], ...] | None:
    """The Python inputs a run of the API was given (recorded in its run.started)."""
    if not isinstance(recorded, list):
        return None
    return tuple(dict(v) for v in recorded if isinstance(v, dict))


def _run_options(options: ContinueOptions, plan: Continuation) -> RunOptions:
    settings = plan.settings
    inputs_file = None
    recorded = settings.get("inputs_file")
    if isinstance(recorded, dict):
        inputs_file = Path(str(recorded["path"]))
        if not options.allow_changed and (
            not inputs_file.is_file() or sha256_of(inputs_file) != recorded.get("sha256")
        ):
            raise UsageError(
                f"{inputs_file} changed since run '{plan.parent.run_id}' (or is gone): its "
                "instances would not line up; restore it, or pass --allow-changed"
            )
    budget = options.budget_usd if options.budget_usd is not None else settings.get("budget_usd")
    if budget is not None and plan.spent_usd >= budget:
        raise UsageError(
            f"run '{plan.parent.run_id}' and the runs before it spent ${plan.spent_usd:.6g} of the "
            f"${budget:g} run budget; pass --budget-usd with more than ${plan.spent_usd:.6g} to "
            "go on"
        )
    secret_env = tuple(str(n) for n in settings.get("secret_env") or ())
    use_secret_env(secret_env)  # the run hid these values; so does its continuation
    state = options.state
    if state is None and settings.get("state_path"):
        state = Path(str(settings["state_path"]))
    return RunOptions(
        files=plan.files,
        input_pairs=tuple(str(p) for p in settings.get("input_pairs") or ()),
        inputs_file=inputs_file,
        input_values=_input_values(settings.get("input_values")),
        mock=bool(settings.get("mock")),
        mock_latency=float(settings.get("mock_latency") or 0.0),
        budget_usd=budget,
        max_concurrency=int(settings.get("max_concurrency") or 512),
        max_workflows=int(settings.get("max_workflows") or 100),
        log_dir=options.log_dir,
        run_id=options.new_run_id,
        output=options.output,
        format=options.format,
        progress=options.progress,
        quiet=options.quiet,
        state=state,
        shared_state=options.shared_state or _recorded_shared(settings),
        cache=settings.get("cache"),
        log_prompts=bool(settings.get("log_prompts")),
        secret_env=secret_env,
        continuation=plan,
        argv=options.argv,
        metrics_file=options.metrics_file,
        metrics_port=options.metrics_port,
        metrics_host=options.metrics_host,
        queue=_queue(options, plan),
    )


def _queue(options: ContinueOptions, plan: Continuation) -> str | None:
    """A queued run's answers are journaled in its queue's Redis: continuing it needs it."""
    recorded = plan.settings.get("queue")
    if options.queue is None and recorded:
        raise UsageError(
            f"run '{plan.parent.run_id}' went through the queue at {recorded}, where its paid "
            f"answers are journaled: continue it with --queue {recorded} (and a password if "
            "that Redis needs one)"
        )
    return options.queue


def _recorded_shared(settings: Mapping[str, object]) -> str | None:
    value = settings.get("shared_state")
    return str(value) if value else None


def continue_command(options: ContinueOptions) -> int:
    """Resume or retry a past run; returns the new run's exit code."""
    chain = lineage_of(options.log_dir, options.run_id)
    parent = chain[0][0]
    if options.mode == "resume" and parent.status == "ok":
        print(f"run '{parent.run_id}' finished ok: nothing to resume", file=sys.stderr)
        return 0
    files = tuple(Path(str(f["path"])) for f in chain[0][1].get("files") or ())
    with _exclusive(options.log_dir, options.run_id):
        plan = continue_run(
            options.log_dir,
            options.run_id,
            mode=options.mode,
            select=options.select,
            dependants=_dependants(files) if options.select else None,
        )
        if plan.changed_files and not options.allow_changed:
            listed = ", ".join(plan.changed_files)
            raise UsageError(
                f"{listed} changed since run '{plan.parent.run_id}' (its sha256 is in the log): "
                "answers paid for would not match; restore the file, or pass --allow-changed "
                "to go on with it as it is now"
            )
        run_options = _run_options(options, plan)
        if plan.in_flight_at_stop:
            count = plan.in_flight_at_stop
            print(
                f"run '{plan.parent.run_id}' stopped with {count} call{'s' if count != 1 else ''} "
                "in flight: their answers never arrived (the provider may have billed them), so "
                "they are asked again, and the budget counts them at their worst case",
                file=sys.stderr,
            )
        return run_command(run_options)

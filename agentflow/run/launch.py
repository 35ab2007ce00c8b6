"""Launch a run: check the options, load the workflows and their inputs, hold the groups,
open the journal, shared state, log and sinks, and run the engine on the running loop.
`agentflow run` and `agentflow.arun_file` both start here; what they render is theirs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from agentflow.core import WORKFLOW_SUFFIXES, load_workflow
from agentflow.defaults import DEFAULT_LOG_DIR, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_WORKFLOWS
from agentflow.errors import BudgetExceeded, Diagnostic, RunSkipped, UsageError, WorkflowInvalid
from agentflow.events.bus import EventBus
from agentflow.events.types import Sink
from agentflow.loading.inputs import complete_inputs, parse_inputs
from agentflow.model.types import Workflow
from agentflow.plan.pricing import load_price_book, require_prices
from agentflow.redaction import redact_value
from agentflow.run import signals
from agentflow.run.calls import DEFAULT_MAX_ANSWER_BYTES
from agentflow.run.clock import SystemClock
from agentflow.run.engine import Engine, Instance, RunSettings, new_run_id
from agentflow.run.results import RunResult
from agentflow.run.shared import open_backends
from agentflow.sinks.jsonl import JsonlSink
from agentflow.sinks.summary import CostSummary
from agentflow.state.groups import conflict_action, groups_of, hold_groups
from agentflow.state.journal import CacheChoice, RunJournal
from agentflow.state.lineage import Continuation, sha256_of
from agentflow.state.store import StateStore
from agentflow.values import (
    check_log_dir,
    check_output_file,
    check_run_id,
    check_seconds,
    check_usd,
    write_atomically,
)

if TYPE_CHECKING:
    from agentflow.api import RunReport
    from agentflow.metrics.export import MetricsExport  # loaded only when metrics are asked for


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything `agentflow run` was asked to do."""

    files: tuple[Path, ...]
    input_pairs: tuple[str, ...] = ()
    inputs_file: Path | None = None
    input_values: tuple[Mapping[str, Any], ...] | None = None  # the API's inputs=, checked here
    mock: bool = False
    mock_latency: float = 0.0
    budget_usd: float | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_workflows: int = DEFAULT_MAX_WORKFLOWS
    log_dir: Path = DEFAULT_LOG_DIR
    run_id: str | None = None
    output: Path | None = None
    format: str = "text"
    progress: bool = True
    quiet: bool = False
    state: Path | None = None
    shared_state: str | None = None  # --state redis://...: limits and standing budgets
    cache: bool | None = None  # --cache / --no-cache; None: as each agent's `cache:` says
    continuation: Continuation | None = None  # set by resume and retry
    log_prompts: bool = False
    argv: tuple[str, ...] = ()
    heartbeat: float = 30.0  # seconds between plain-mode progress lines; 0 turns them off
    secret_env: tuple[str, ...] = ()
    max_answer_bytes: int | None = DEFAULT_MAX_ANSWER_BYTES
    metrics_file: Path | None = None  # the Prometheus textfile, rewritten every 15 s
    metrics_port: int | None = None  # serve /metrics and /healthz while the run lasts
    metrics_host: str = "127.0.0.1"
    junit: Path | None = None  # --junit FILE: the run as JUnit XML, written at its end
    pricing: Path | None = None  # --pricing FILE: prices that win over the files' pricing:
    queue: str | None = None  # --queue redis://...: instances on a Redis Stream, for workers
    queue_only: bool = False  # --queue-only: enqueue and collect, leave the work to workers
    lease: float = 30.0  # --lease: seconds a worker holds an instance without renewing it


def check_options(options: RunOptions) -> None:
    """Every command-line value, before a file is loaded, a log created or a cent spent."""
    try:
        check_usd("--budget-usd", options.budget_usd)
        check_seconds("--mock-latency", options.mock_latency)
        check_run_id(options.run_id)
        check_log_dir(options.log_dir)
        check_output_file(options.output)
        if options.metrics_file is not None:
            from agentflow.metrics.export import check_metrics_file

            check_metrics_file(options.metrics_file)
        check_output_file(options.junit, "--junit")
        _check_queue(options)
    except UsageError as exc:
        raise UsageError(f"{exc} (see 'agentflow run --help')") from None
    if options.pricing is not None:
        load_price_book((), options.pricing)  # a bad file fails before anything runs


def _check_queue(options: RunOptions) -> None:
    if options.queue is None:
        if options.queue_only:
            raise UsageError("--queue-only needs --queue redis://HOST:PORT/DB")
        return
    from agentflow.state.redis_conn import parse_redis_url

    parse_redis_url(options.queue, option="--queue")
    if options.budget_usd is not None and options.shared_state is None:
        raise UsageError(
            "--budget-usd with --queue needs --state redis://HOST:PORT/DB: the run budget is "
            "kept there, shared by every worker of the run (give the workers the same --state)"
        )
    check_seconds("--lease", options.lease)
    if options.lease <= 0:
        raise UsageError("--lease must be more than 0 seconds")


def _not_a_workflow_file(file: Path) -> str:
    if file.is_dir():
        inside = sorted(p.name for p in file.iterdir() if p.suffix in WORKFLOW_SUFFIXES)
        listed = f" (it holds {', '.join(inside[:5])}{', ...' if len(inside) > 5 else ''})"
        return (
            f"{file} is a folder, not a workflow file; name the files to run, "
            f"e.g. agentflow run {file / '*.yaml'}" + (listed if inside else "")
        )
    return f"{file}: no such workflow file"


def _load_all(files: tuple[Path, ...]) -> list[Workflow]:
    workflows: list[Workflow] = []
    problems: list[Diagnostic] = []
    for file in files:
        if file.is_dir() or not file.exists():
            raise UsageError(_not_a_workflow_file(file))
        try:
            workflows.append(load_workflow(file, import_tools=True))
        except WorkflowInvalid as exc:
            problems.extend(exc.diagnostics)
    if problems:
        raise WorkflowInvalid(problems)
    return workflows


def _check_budget_prices(
    workflows: list[Workflow], budget_usd: float | None, pricing: Path | None = None
) -> None:
    if budget_usd is None:
        return
    paid: list[str] = []
    for workflow in workflows:
        book = load_price_book(workflow.pricing, pricing)
        require_prices(workflow, book)
        for agent in workflow.agents:
            price = book.lookup(agent.model)
            assert price is not None  # require_prices checked it
            if price.input_per_token > 0 or price.output_per_token > 0:
                paid.append(f"{workflow.name}.{agent.id}")
    if budget_usd == 0 and paid:
        # Every paid call would be refused: say so once instead of skipping each agent.
        more = f" and {len(paid) - 3} more" if len(paid) > 3 else ""
        raise BudgetExceeded(
            f"--budget-usd 0 allows no spending, and {', '.join(paid[:3])}{more} call priced "
            "models (--mock prices its calls too); nothing was run: raise the budget"
        )


def _check_keys(workflows: list[Workflow]) -> None:
    """Fail before any work when a key an agent will need is missing from the environment.

    An agent with `api_key_env` needs that variable; one with `api_base` and no
    `api_key_env` needs nothing (a placeholder key goes to a server that wants none);
    any other agent needs its provider's key, as LiteLLM reads it.
    """
    from agentflow.llm.litellm_client import provider_keys_missing

    needed: dict[str, list[str]] = {}
    for workflow in workflows:
        for agent in workflow.agents:
            if agent.api_key_env is not None:
                if not os.environ.get(agent.api_key_env):
                    who = f"agent '{workflow.name}.{agent.id}'"
                    needed.setdefault(who, []).append(agent.api_key_env)
            elif agent.api_base is None and agent.model not in needed:
                needed[agent.model] = provider_keys_missing(agent.model)
    missing = {who: keys for who, keys in needed.items() if keys}
    if missing:
        listed = "; ".join(f"{who} needs {', '.join(keys)}" for who, keys in missing.items())
        raise UsageError(
            f"keys are missing from the environment: {listed} "
            "(export them, or try the workflow offline with --mock)"
        )


def _client(options: RunOptions) -> Any:
    from agentflow.llm.litellm_client import LiteLLMClient

    client = LiteLLMClient(max_connections=max(options.max_concurrency, 16))
    if not options.mock:
        return client
    from agentflow.llm.mock import MockLLMClient

    return MockLLMClient(client, latency_s=options.mock_latency)


def _display(options: RunOptions, console: Console, engine_stats: Any) -> Sink | None:
    if options.format == "json" and not options.progress:
        return None
    if console.is_terminal and options.progress and not options.quiet:
        from agentflow.sinks.progress import ProgressSink

        return ProgressSink(console, get_time=time.monotonic, stats=engine_stats)
    if not options.progress and not options.quiet:
        return None
    from agentflow.sinks.plain import PlainSink

    return PlainSink(sys.stderr, quiet=options.quiet, heartbeat=options.heartbeat)


def _rerun_command(options: RunOptions) -> str:
    """The command that runs the same workflows with the same inputs and settings again."""
    argv = ["agentflow", "run", *map(str, options.files)]
    for pair in options.input_pairs:
        argv += ["--input", pair]
    if options.inputs_file:
        argv += ["--inputs", str(options.inputs_file)]
    if options.budget_usd is not None:
        argv += ["--budget-usd", f"{options.budget_usd:g}"]
    if options.mock:
        argv.append("--mock")
    for name in options.secret_env:  # a re-run must hide the same secrets
        argv += ["--secret-env", name]
    if options.max_workflows != DEFAULT_MAX_WORKFLOWS:
        argv += ["--max-workflows", str(options.max_workflows)]
    if options.max_concurrency != DEFAULT_MAX_CONCURRENCY:
        argv += ["--max-concurrency", str(options.max_concurrency)]
    if options.log_dir != DEFAULT_LOG_DIR:
        argv += ["--log-dir", str(options.log_dir)]
    if options.output is not None:
        argv += ["--output", str(options.output)]
    return shlex.join(argv)


def _continue_command(options: RunOptions, result: RunResult) -> str | None:
    """The command that goes on from this run: resume after a stop, retry after failures."""
    if result.status == "ok":
        return None
    verb = "resume" if result.status in ("cancelled", "budget") else "retry"
    argv = ["agentflow", verb, result.run_id]
    if options.log_dir != DEFAULT_LOG_DIR:
        argv += ["--log-dir", str(options.log_dir)]
    if options.state is not None:
        argv += ["--state", str(options.state)]
    elif options.shared_state is not None and not os.environ.get("AGENTFLOW_STATE"):
        argv += ["--state", _shared_display(options) or ""]
    if options.output is not None:
        argv += ["--output", str(options.output)]
    text = shlex.join(argv)
    if verb == "resume" and result.status == "budget":
        text += " --budget-usd <more>"
    return text


def _shared_display(options: RunOptions) -> str | None:
    """The shared Redis without its credentials (the log and commands shown never hold them)."""
    if options.shared_state is None:
        return None
    from agentflow.state.redis_conn import parse_redis_url

    return parse_redis_url(options.shared_state).display()


def _queue_display(options: RunOptions) -> str | None:
    if options.queue is None:
        return None
    from agentflow.state.redis_conn import parse_redis_url

    return parse_redis_url(options.queue, option="--queue").display()


def state_path(options: RunOptions) -> Path:
    """`--state`, else `state.db` beside the log dir (`.agentflow/state.db` by default)."""
    return options.state if options.state is not None else options.log_dir.parent / "state.db"


def _provenance(options: RunOptions, workflows: list[Workflow]) -> dict[str, Any]:
    """What run.started records so that resume and retry can run the same thing again."""
    from agentflow import __version__

    inputs_file = None
    if options.inputs_file is not None:
        inputs_file = {
            "path": str(options.inputs_file.resolve()),
            "sha256": sha256_of(options.inputs_file),
        }
    return {
        "agentflow_version": __version__,
        "command": list(options.argv),
        "files": [
            {"path": str(wf.path.resolve()), "sha256": sha256_of(wf.path)} for wf in workflows
        ],
        "settings": {
            "input_pairs": list(options.input_pairs),
            "inputs_file": inputs_file,
            **({"input_values": list(options.input_values)} if options.input_values else {}),
            "mock": options.mock,
            "mock_latency": options.mock_latency,
            "budget_usd": options.budget_usd,
            "max_concurrency": options.max_concurrency,
            "max_workflows": options.max_workflows,
            "cache": options.cache,
            "log_prompts": options.log_prompts,
            "secret_env": list(options.secret_env),  # names only: resume hides the same values
            "shared_state": _shared_display(options),
            **({"queue": _queue_display(options)} if options.queue else {}),
        },
        "state_path": str(state_path(options)),
    }


def _metrics(options: RunOptions, holder: dict[str, Engine]) -> MetricsExport | None:
    """The metrics sink and its export, when asked for (only then is prometheus_client loaded)."""
    if options.metrics_file is None and options.metrics_port is None:
        return None
    from agentflow.metrics.export import MetricsExport
    from agentflow.sinks.metrics import MetricsSink

    sink = MetricsSink(statistics=lambda: holder["engine"].statistics() if holder else None)
    return MetricsExport(
        sink,
        file=options.metrics_file,
        port=options.metrics_port,
        host=options.metrics_host,
    )


async def _run(
    engine: Engine, instances: list[Instance], client: Any, metrics: MetricsExport | None = None
) -> RunResult:
    if metrics is None:
        return await _run_engine(engine, instances, client)
    async with metrics.running(SystemClock()):
        return await _run_engine(engine, instances, client)


async def _run_engine(engine: Engine, instances: list[Instance], client: Any) -> RunResult:
    try:
        with stopped_by_signals(engine.request_stop):
            await engine.prepare(instances)
            return await engine.run(instances)
    finally:
        await client.aclose()


@contextlib.contextmanager
def stopped_by_signals(request_stop: Callable[[str], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `request_stop(name)` on the running loop while the body runs."""
    loop = asyncio.get_running_loop()
    installed = []

    def on_signal(name: str) -> None:  # inside the signal handler: only schedule the stop
        if not loop.is_closed():
            loop.call_soon_threadsafe(request_stop, name)

    if signals.installed():  # the CLI entry point: its handler lives as long as the process
        signals.running(on_signal)
    else:
        for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
            try:
                loop.add_signal_handler(sig, request_stop, name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread, or no signals
                pass
    early = signals.received()
    if early is not None:  # came before the loop listened: nothing starts
        request_stop(early)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        signals.finishing()


async def _charge_parents(options: RunOptions, run_id: str, spent_usd: float) -> None:
    """A resumed queued run's shared budget starts with what the runs before it spent."""
    import datetime as dt

    from agentflow.run.redis_budget import RedisStanding
    from agentflow.run.standing import run_account
    from agentflow.state.redis_conn import RedisConnection, parse_redis_url

    if spent_usd <= 0 or options.budget_usd is None or options.shared_state is None:
        return
    account = run_account(run_id, options.budget_usd, dt.datetime.now(dt.UTC))
    nanos = round(spent_usd * 1_000_000_000)
    async with RedisConnection(parse_redis_url(options.shared_state)) as redis:
        await RedisStanding(redis).settle([account], "parents", 0, nanos)


def _ping_queue(url: str) -> None:
    from agentflow.state.redis_conn import (
        QUEUE_HINT,
        RedisConnection,
        parse_redis_url,
        run_blocking,
    )

    target = parse_redis_url(url, option="--queue")

    async def ping() -> None:
        async with RedisConnection(target, timeout_s=2.0, hint=QUEUE_HINT) as redis:
            await redis.ping()

    run_blocking(ping)


async def _run_queued(
    options: RunOptions,
    workflows: list[Workflow],
    instances: list[Instance],
    engine: Engine,
    bus: EventBus,
    stamp: Any,
    metrics: MetricsExport | None,
) -> RunResult:
    """`run --queue`: the instances go on the queue; this process collects their events
    (and works on them too, unless --queue-only)."""
    from agentflow.run.collect import Collector, run_through_queue
    from agentflow.run.queue import QueueSpec, SpecFile, WorkQueue
    from agentflow.run.worker import Worker, WorkerSettings
    from agentflow.state.redis_conn import QUEUE_HINT, RedisConnection, parse_redis_url

    assert options.queue is not None
    settings = engine.settings
    continuation = options.continuation
    spec = QueueSpec(
        run_id=settings.run_id,
        files=tuple(SpecFile.of(wf.path) for wf in workflows),
        instances=len(instances),
        mock=options.mock,
        mock_latency=options.mock_latency,
        max_answer_bytes=options.max_answer_bytes,
        budget_usd=options.budget_usd,
        budget_state=_shared_display(options) if options.budget_usd is not None else None,
        cache=options.cache,
        log_prompts=options.log_prompts,
        secret_env=options.secret_env,
        lineage=continuation.lineage if continuation else (),
        fresh=tuple(sorted(continuation.fresh)) if continuation else (),
        lease_s=options.lease,
        pricing=SpecFile.of(options.pricing) if options.pricing is not None else None,
    )
    worker = None
    if not options.queue_only:
        worker = Worker(
            WorkerSettings(
                queue_url=options.queue,
                state_path=state_path(options),
                shared_state=options.shared_state,
                max_workflows=options.max_workflows,
                max_concurrency=options.max_concurrency,
                run_id=settings.run_id,
                lease_s=options.lease,
                grace_s=0.0,  # a stopped starter stops the run at once, as a local run does
            ),
            warn=lambda line: print(f"agentflow: warning: {line}", file=sys.stderr, flush=True),
        )
    target = parse_redis_url(options.queue, option="--queue")
    async with RedisConnection(target, hint=QUEUE_HINT) as redis:
        if continuation is not None:  # the run it continues stops, so nothing runs twice
            parent = WorkQueue(redis, continuation.parent.run_id)
            await parent.stop()
            await parent.close()
        queue = WorkQueue(redis, settings.run_id)
        if options.budget_usd is not None and continuation is not None:
            await _charge_parents(options, settings.run_id, continuation.spent_usd)
        collector = Collector(
            queue, bus, stamp, instances, settings, run_started=engine.run_started_fields(instances)
        )

        if worker is not None:
            await worker.warm(spec, workflows)

        def stop(name: str) -> None:
            collector.request_stop(name)
            if worker is not None:
                worker.request_stop(name)

        with stopped_by_signals(stop):
            if metrics is None:
                return await run_through_queue(queue, spec, instances, workflows, collector, worker)
            async with metrics.running(SystemClock()):
                return await run_through_queue(queue, spec, instances, workflows, collector, worker)


def _instance_values(workflow: Workflow, options: RunOptions) -> list[dict[str, Any]]:
    if options.input_values is None:
        return parse_inputs(workflow, options.input_pairs, options.inputs_file)
    return [
        complete_inputs(workflow, values, f"inputs[{n}]")
        for n, values in enumerate(options.input_values)
    ]


async def execute_run(
    options: RunOptions, *, console: Console | None = None, extra_sinks: Sequence[Sink] = ()
) -> RunReport:
    """Check, load and run the workflows on the running loop; what `run_command` renders
    and `agentflow.arun_file` returns. A live display goes to `console` when one is given;
    `extra_sinks` get every event too. Raises before any call or log when it cannot start."""

    check_options(options)
    workflows = _load_all(options.files)
    instances: list[Instance] = []
    for workflow in workflows:
        for index, values in enumerate(_instance_values(workflow, options)):
            instances.append(Instance(workflow, index, values))
    _check_budget_prices(workflows, options.budget_usd, options.pricing)
    if not options.mock:
        _check_keys(workflows)  # before the log exists: a run that cannot start leaves none

    if options.queue is not None:
        _ping_queue(options.queue)  # before the log exists: nothing to clean up after
    run_id = options.run_id or new_run_id()
    log_path = options.log_dir / f"{run_id}.jsonl"
    if log_path.exists():
        raise UsageError(f"{log_path} exists already; choose another --run-id")
    groups = groups_of([(i.workflow, i.inputs) for i in instances])
    with hold_groups(
        groups,
        conflict_action(workflows),
        run_id=run_id,
        lock_dir=state_path(options).parent / "locks",
        shared_url=options.shared_state,
    ) as held_by:
        if held_by is not None:
            raise RunSkipped(held_by.line())
        return await _run_held(
            options, workflows, instances, run_id, log_path, console, extra_sinks
        )


async def _run_held(
    options: RunOptions,
    workflows: list[Workflow],
    instances: list[Instance],
    run_id: str,
    log_path: Path,
    console: Console | None,
    extra_sinks: Sequence[Sink],
) -> RunReport:
    from agentflow.api import RunReport

    # The journal opens first: a run that cannot keep it must not start (it could pay twice).
    store = StateStore.open(state_path(options))
    warnings = console or Console(stderr=True, highlight=False, soft_wrap=True)
    # Then the shared state: an unreachable Redis stops a run with a standing budget here,
    # before its log exists and before anything is paid.
    try:
        backends = open_backends(
            options.shared_state,
            store,
            workflows,
            warn=lambda line: warnings.print(f"[yellow]warning[/yellow]: {escape(line)}"),
        )
    except BaseException:
        store.close()
        raise
    summary = CostSummary()
    try:
        log = JsonlSink(log_path)
    except OSError as exc:
        raise UsageError(
            f"cannot write the run log {log_path}: {exc.strerror or exc}; choose another --log-dir"
        ) from None
    sinks: list[Sink] = [log, summary, *extra_sinks]
    holder: dict[str, Engine] = {}
    metrics = _metrics(options, holder)
    if metrics is not None:
        sinks.append(metrics.sink)
    display = None
    if console is not None:
        display = _display(options, console, lambda: holder["engine"].statistics().summary())
    if display is not None:
        sinks.append(display)
    continuation = options.continuation
    journal = RunJournal(
        store,
        run_id=run_id,
        lineage=continuation.lineage if continuation else (),
        fresh=continuation.fresh if continuation else (),
        cache=CacheChoice(options.cache),
        mock=options.mock,
    )
    stamp = None
    if options.queue is not None:
        from agentflow.run.collect import Stamp

        stamp = Stamp()  # relayed events keep the time their worker stamped
    bus = EventBus(run_id, stamp or time.time, sinks)
    client = _client(options) if options.queue is None else None
    engine = Engine(
        backends=backends,
        price_book_for=lambda wf: load_price_book(wf.pricing, options.pricing),
        journal=journal,
        reuse=continuation.reuse if continuation else None,
        client=client,
        clock=SystemClock(),
        bus=bus,
        settings=RunSettings(
            run_id=run_id,
            budget_usd=options.budget_usd,
            max_concurrency=options.max_concurrency,
            max_workflows=options.max_workflows,
            mock=options.mock,
            probe_limits=not options.mock,
            log_path=str(log_path),
            parent_run_id=continuation.parent.run_id if continuation else None,
            log_prompts=options.log_prompts,
            spent_before_usd=continuation.spent_usd if continuation else 0.0,
            provenance=_provenance(options, workflows),
            max_answer_bytes=options.max_answer_bytes,
        ),
    )
    holder["engine"] = engine
    try:
        if metrics is not None and options.metrics_port is not None:
            url = metrics.bind()  # a port in use ends the run here, before its first call
            if not options.quiet:
                print(f"agentflow: metrics at {url}", file=sys.stderr, flush=True)
        start = getattr(display, "start", None)
        if start is not None:
            start()
        if stamp is not None:
            result = await _run_queued(options, workflows, instances, engine, bus, stamp, metrics)
        else:
            result = await _run(engine, instances, client, metrics)
    finally:
        signals.finishing()
        bus.close()
        store.close()
        if metrics is not None:
            metrics.close()
    report = RunReport(
        result=result,
        summary=summary,
        log_path=log_path,
        rerun_command=_rerun_command(options),
        continue_command=_continue_command(options, result),
    )
    problems = [_write_output(options.output, report.results()), _write_junit(options, log_path)]
    return replace(report, output_error="; ".join(p for p in problems if p) or None)


def _write_output(path: Path | None, outputs: list[dict[str, Any]]) -> str | None:
    """Write `-o FILE`; the reason when that failed (the outputs still go to stdout)."""
    if path is None:
        return None
    text = json.dumps(redact_value(outputs), indent=2, default=str) + "\n"
    try:
        write_atomically(path, text)
    except OSError as exc:
        return f"could not write --output {path}: {exc.strerror or exc}; the outputs are on stdout"
    return None


def _write_junit(options: RunOptions, log_path: Path) -> str | None:
    """Write `--junit FILE` from the log just closed; the reason when that failed."""
    if options.junit is None:
        return None
    from agentflow.report.junit import render_junit
    from agentflow.report.model import load_report

    try:
        report = load_report(options.log_dir, log_path.stem, with_dag=False)
        write_atomically(options.junit, render_junit(report))
    except (OSError, UsageError) as exc:
        return f"could not write --junit {options.junit}: {getattr(exc, 'strerror', None) or exc}"
    return None

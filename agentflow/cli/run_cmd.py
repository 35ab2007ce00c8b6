"""`agentflow run FILE...`: load, check inputs, run on one event loop, render the result."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from agentflow.cli import signals
from agentflow.cli.boundary import silence_stdout, stderr_console
from agentflow.cli.inputs import parse_inputs
from agentflow.core import load_workflow
from agentflow.errors import Diagnostic, UsageError, WorkflowInvalid
from agentflow.events.bus import EventBus
from agentflow.events.types import Sink
from agentflow.model.types import Workflow
from agentflow.plan.pricing import load_price_book
from agentflow.run.calls import DEFAULT_MAX_ANSWER_BYTES
from agentflow.run.clock import SystemClock
from agentflow.run.engine import Engine, Instance, RunSettings, new_run_id
from agentflow.run.results import RunResult
from agentflow.sinks.jsonl import JsonlSink
from agentflow.sinks.summary import CostSummary, cost_table, failure_report, summary_json

RUN_FORMAT = "agentflow.run/v1"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything `agentflow run` was asked to do."""

    files: tuple[Path, ...]
    input_pairs: tuple[str, ...] = ()
    inputs_file: Path | None = None
    mock: bool = False
    mock_latency: float = 0.0
    budget_usd: float | None = None
    max_concurrency: int = 512
    max_workflows: int = 100
    log_dir: Path = Path(".agentflow/runs")
    run_id: str | None = None
    output: Path | None = None
    format: str = "text"
    progress: bool = True
    quiet: bool = False
    heartbeat: float = 30.0  # seconds between plain-mode progress lines; 0 turns them off
    max_answer_bytes: int | None = DEFAULT_MAX_ANSWER_BYTES


def _load_all(files: tuple[Path, ...]) -> list[Workflow]:
    workflows: list[Workflow] = []
    problems: list[Diagnostic] = []
    for file in files:
        if not file.is_file():
            raise UsageError(f"{file}: no such workflow file")
        try:
            workflows.append(load_workflow(file, import_tools=True))
        except WorkflowInvalid as exc:
            problems.extend(exc.diagnostics)
    if problems:
        raise WorkflowInvalid(problems)
    return workflows


def _check_budget_prices(workflows: list[Workflow], budget_usd: float | None) -> None:
    if budget_usd is None:
        return
    for workflow in workflows:
        book = load_price_book(workflow.pricing)
        for agent in workflow.agents:
            if book.lookup(agent.model) is None:
                raise UsageError(
                    f"{workflow.path}: model '{agent.model}' (agent '{agent.id}') has no known "
                    "price, so the run cannot keep --budget-usd; add it under pricing: in the file"
                )


def _check_keys(workflows: list[Workflow]) -> None:
    """Fail before any work when a provider key is missing from the environment."""
    from agentflow.llm.litellm_client import missing_keys

    needed: dict[str, list[str]] = {}
    for workflow in workflows:
        for agent in workflow.agents:
            if agent.api_base is None and agent.model not in needed:
                keys = [k for k in missing_keys(agent.model) if "KEY" in k or "TOKEN" in k]
                needed[agent.model] = keys
    missing = {model: keys for model, keys in needed.items() if keys}
    if missing:
        listed = "; ".join(f"{model} needs {', '.join(keys)}" for model, keys in missing.items())
        raise UsageError(
            f"provider keys are missing from the environment: {listed} "
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


def _rerun_command(options: RunOptions, run_id: str) -> str:
    argv = ["agentflow", "run", *map(str, options.files)]
    for pair in options.input_pairs:
        argv += ["--input", pair]
    if options.inputs_file:
        argv += ["--inputs", str(options.inputs_file)]
    if options.budget_usd is not None:
        argv += ["--budget-usd", f"{options.budget_usd:g}"]
    if options.mock:
        argv.append("--mock")
    return shlex.join(argv)


def _outputs_document(result: RunResult) -> list[dict[str, Any]]:
    return [
        {
            "workflow": r.workflow,
            "instance": r.instance,
            "status": r.status,
            "outputs": dict(r.outputs),
        }
        for r in result.instances
    ]


async def _run(engine: Engine, instances: list[Instance], client: Any) -> RunResult:
    loop = asyncio.get_running_loop()
    installed = []

    def on_signal(name: str) -> None:  # inside the signal handler: only schedule the stop
        if not loop.is_closed():
            loop.call_soon_threadsafe(engine.request_stop, name)

    if signals.installed():  # the CLI entry point: its handler lives as long as the process
        signals.running(on_signal)
    else:
        for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
            try:
                loop.add_signal_handler(sig, engine.request_stop, name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread, or no signals
                pass
    early = signals.received()
    if early is not None:  # came before the loop listened: the engine starts nothing
        engine.request_stop(early)
    try:
        await engine.prepare(instances)
        return await engine.run(instances)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        signals.finishing()
        await client.aclose()


def run_command(options: RunOptions) -> int:
    """Run the workflows; returns the exit code (see DESIGN: 0, 1, 2, 3, 4, 130, 143)."""
    workflows = _load_all(options.files)
    instances: list[Instance] = []
    for workflow in workflows:
        for index, values in enumerate(
            parse_inputs(workflow, options.input_pairs, options.inputs_file)
        ):
            instances.append(Instance(workflow, index, values))
    _check_budget_prices(workflows, options.budget_usd)

    run_id = options.run_id or new_run_id()
    log_path = options.log_dir / f"{run_id}.jsonl"
    if log_path.exists():
        raise UsageError(f"{log_path} exists already; choose another --run-id")
    console = stderr_console()
    summary = CostSummary()
    try:
        log = JsonlSink(log_path)
    except OSError as exc:
        raise UsageError(
            f"cannot write the run log {log_path}: {exc.strerror or exc}; choose another --log-dir"
        ) from None
    sinks: list[Sink] = [log, summary]
    holder: dict[str, Engine] = {}
    display = _display(options, console, lambda: holder["engine"].statistics().summary())
    if display is not None:
        sinks.append(display)
    bus = EventBus(run_id, time.time, sinks)
    client = _client(options)
    if not options.mock:
        _check_keys(workflows)
    engine = Engine(
        client=client,
        clock=SystemClock(),
        bus=bus,
        settings=RunSettings(
            run_id=run_id,
            budget_usd=options.budget_usd,
            max_concurrency=options.max_concurrency,
            max_workflows=options.max_workflows,
            mock=options.mock,
            log_path=str(log_path),
            max_answer_bytes=options.max_answer_bytes,
        ),
    )
    holder["engine"] = engine
    start = getattr(display, "start", None)
    if start is not None:
        start()
    try:
        result = asyncio.run(_run(engine, instances, client))
    finally:
        signals.finishing()
        bus.close()
    try:
        _render(options, result, summary, console, log_path)
    except BrokenPipeError:
        # `agentflow run ... | head`: the run is done and logged; its exit code still counts.
        silence_stdout()
    return signals.exit_code(result.exit_code)


def _render(
    options: RunOptions, result: RunResult, summary: CostSummary, console: Console, log_path: Path
) -> None:
    outputs = _outputs_document(result)
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(
            json.dumps(outputs, indent=2, default=str) + "\n", encoding="utf-8"
        )
    rerun = _rerun_command(options, result.run_id)
    if options.format == "json":
        document = {
            "format": RUN_FORMAT,
            "run_id": result.run_id,
            "status": result.status,
            "exit_code": result.exit_code,
            "log_path": str(log_path),
            "results": outputs,
            **{k: v for k, v in summary_json(summary).items() if k != "version"},
            "rerun_command": rerun,
        }
        print(json.dumps(document, indent=2, default=str))
        return
    if not options.quiet:
        console.print(cost_table(summary))
    if result.status != "ok":
        console.print(failure_report(summary, rerun))
    out = Console(highlight=False, soft_wrap=True)
    for item in outputs:
        if len(outputs) > 1:
            out.print(f"# {item['workflow']}#{item['instance']}: {item['status']}")
        out.print_json(json.dumps(item["outputs"], default=str))
    console.print(f"[dim]run {result.run_id}: {result.status}; log: {log_path}[/dim]")

"""The `agentflow` command. Each command parses, calls one core function, renders.

Heavy modules are imported inside the commands, so `agentflow --help` stays instant and
never imports litellm.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from agentflow import __version__
from agentflow.cli.boundary import guarded, install_redacting_streams, run_app, use_secret_env
from agentflow.defaults import DEFAULT_LOG_DIR, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_WORKFLOWS
from agentflow.state.locator import split_state


class _PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: `FILE...`, not `{files}...` and `<list[Path]>`."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


def _without_flag_metavars(params: list[Any]) -> list[Any]:
    # Typer shows `<bool>` after flags (--help, --install-completion, ...); they take no value.
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class _Command(TyperCommand):
    """Every command: plain argument names in its usage line and help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.__class__ = _PlainArgument

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_metavars(super().get_params(ctx))


class _Group(TyperGroup):
    """The `agentflow` group: flags without a `<bool>` metavar."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_metavars(super().get_params(ctx))


def _examples(*lines: str) -> str:
    """An "Examples" paragraph for a command's help (Rich keeps these lines as written)."""
    return "\n\n[bold]Examples[/bold]\n\n" + "\n".join(f"  [dim]$[/dim] {line}" for line in lines)


app = typer.Typer(
    name="agentflow",
    cls=_Group,
    help="Validate, price and run declarative YAML workflows of LLM agents.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# The JSON Schemas agentflow ships (schemas/<name>.schema.json).
SCHEMA_NAMES = (
    "workflow",
    "run-event",
    "run-result",
    "plan",
    "validate-result",
    "graph",
    "runs",
    "tools",
    "report",
)


# `--secret-env NAME`: one more environment variable whose value is redacted everywhere.
SecretEnv = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-env",
        metavar="NAME",
        help="Redact the value of this environment variable everywhere (repeatable).",
    ),
]


class ValidateFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    json = "json"


class TableOrJson(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class TextOrJson(StrEnum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Show the version.",
        ),
    ] = False,
) -> None:
    """Validate, price and run declarative YAML workflows of LLM agents."""


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow validate workflows/",
        "agentflow validate --strict --format github workflows/ --exclude 'drafts/*'",
        "cat flow.yaml | agentflow validate -",
    ),
)
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH", help="Workflow files or folders; - reads one file from stdin."
        ),
    ],
    format: Annotated[
        ValidateFormat,
        typer.Option("--format", "-f", metavar="text|json|github", help="Output format."),
    ] = ValidateFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Skip files whose path matches GLOB (repeatable), e.g. 'drafts/*'.",
        ),
    ] = None,
    secret_env: SecretEnv = None,
) -> None:
    """Check workflow files: schema, references, cycles, templates, tools, prices. Exit 0 valid, 2 invalid."""
    from agentflow.cli.validate_cmd import validate as run_validate

    use_secret_env(secret_env)

    raise typer.Exit(guarded(lambda: run_validate(paths, format.value, strict, exclude or ())))


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow graph workflows/hr_onboarding.yaml",
        "agentflow graph flow.yaml -f dot | dot -Tsvg > graph.svg",
    ),
)
def graph(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A workflow file.")],
    format: Annotated[
        GraphFormat,
        typer.Option("--format", "-f", metavar="mermaid|dot|json", help="Output format."),
    ] = GraphFormat.mermaid,
    secret_env: SecretEnv = None,
) -> None:
    """Print the workflow's dependency graph (Mermaid, DOT or JSON)."""
    use_secret_env(secret_env)

    def body() -> int:
        from agentflow.core import load_workflow
        from agentflow.graph.compile import compile_workflow
        from agentflow.graph.export import render_graph

        workflow = load_workflow(file)
        typer.echo(render_graph(workflow, compile_workflow(workflow), format.value), nl=False)
        return 0

    raise typer.Exit(guarded(body))


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow tools workflows/hr_onboarding.yaml",
        "agentflow tools flow.yaml --format json | jq '.tools[].name'",
    ),
)
def tools(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A workflow file.")],
    format: Annotated[
        TextOrJson,
        typer.Option("--format", "-f", metavar="text|json", help="Output format."),
    ] = TextOrJson.text,
    secret_env: SecretEnv = None,
) -> None:
    """List the tools agents may use, with their schemas; starts (and stops) the MCP servers."""
    use_secret_env(secret_env)

    def body() -> int:
        from agentflow.cli.tools_cmd import tools_command

        return tools_command(file, format.value)

    raise typer.Exit(guarded(body))


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow schema > workflow.schema.json",
        "agentflow schema run-event",
        "agentflow schema --vscode > .vscode/settings.json",
    ),
)
def schema(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="One of: " + ", ".join(SCHEMA_NAMES) + ".")
    ] = "workflow",
    vscode: Annotated[
        bool,
        typer.Option(
            "--vscode", help="Print VS Code settings that apply the workflow schema instead."
        ),
    ] = False,
) -> None:
    """Print a JSON Schema (default: the workflow file format)."""

    def body() -> int:
        from agentflow.errors import UsageError
        from agentflow.schema.resources import schema_text

        if vscode and name != "workflow":
            raise UsageError(f"--vscode prints settings for the workflow schema, not '{name}'")
        if vscode:
            import json

            from agentflow.editors import vscode_settings

            typer.echo(json.dumps(vscode_settings(), indent=2))
            return 0
        if name not in SCHEMA_NAMES:
            raise UsageError(f"unknown schema '{name}'; choose one of {', '.join(SCHEMA_NAMES)}")
        typer.echo(schema_text(f"{name}.schema.json"), nl=False)
        return 0

    raise typer.Exit(guarded(body))


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow init --list",
        "agentflow init finance invoices/",
        "agentflow init blank . && agentflow run workflow.yaml --mock",
    ),
)
def init(
    template: Annotated[
        str, typer.Argument(metavar="TEMPLATE", help="A template name (see --list).")
    ] = "blank",
    dir: Annotated[
        Path, typer.Argument(metavar="DIR", help="The folder to write into (created if missing).")
    ] = Path("."),
    list_: Annotated[bool, typer.Option("--list", help="List the templates and exit.")] = False,
) -> None:
    """Start a workflow from a template; never overwrites a file. Exit 0 written, 2 refused."""

    def body() -> int:
        from agentflow.cli.boundary import stdout_console
        from agentflow.cli.init_cmd import init_command, list_command

        if list_:
            return list_command(stdout_console())
        return init_command(template, dir, stdout_console())

    raise typer.Exit(guarded(body))


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow plan workflows/hr_onboarding.yaml",
        "agentflow plan invoices.yaml --inputs batch.jsonl --budget-usd 5 --format json",
    ),
)
def plan(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A workflow file.")],
    input: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", metavar="NAME=VALUE", help="An input value, NAME=VALUE (repeatable)."
        ),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(
            "--inputs",
            metavar="FILE",
            help="Inputs from F.json, or F.jsonl with one instance per line.",
        ),
    ] = None,
    budget_usd: Annotated[
        float | None,
        typer.Option(
            "--budget-usd", metavar="USD", help="A run budget in USD to check against (>= 0)."
        ),
    ] = None,
    pricing: Annotated[
        Path | None,
        typer.Option(
            "--pricing",
            metavar="FILE",
            help="Extra prices: JSON {model: {input, output} or {same_as: model}} per 1M tokens.",
        ),
    ] = None,
    format: Annotated[
        TableOrJson,
        typer.Option("--format", "-f", metavar="table|json", help="Output format."),
    ] = TableOrJson.table,
    secret_env: SecretEnv = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="PATH|redis://HOST:PORT/DB",
            envvar="AGENTFLOW_STATE",
            help="The state database whose cache and standing budgets to look in (default: "
            ".agentflow/state.db), or the shared Redis that keeps standing budgets.",
        ),
    ] = None,
    cache: Annotated[
        bool | None,
        typer.Option(
            "--cache/--no-cache",
            help="Plan as run --cache / --no-cache would run: which first calls the cache answers.",
        ),
    ] = None,
) -> None:
    """Price and time a run before a cent is spent. Exit 3 when the expected cost is over budget."""
    use_secret_env(secret_env)

    def body() -> int:
        from agentflow.cli.plan_cmd import plan_command

        return plan_command(
            file,
            input or [],
            inputs,
            budget_usd,
            pricing,
            format.value,
            state=state,
            cache=cache,
        )

    raise typer.Exit(guarded(body))


_QUEUE_OPT = typer.Option(
    "--queue",
    metavar="redis://HOST:PORT/DB",
    envvar="AGENTFLOW_QUEUE",
    help="Put the workflow instances on a Redis Stream that `agentflow worker`s on any host "
    "share (this process works on them too, and writes the one log).",
)
_LEASE_OPT = typer.Option(
    "--lease",
    metavar="SECONDS",
    help="How long an instance stays with a worker that stopped renewing it (died) before "
    "another worker claims it.",
)
_METRICS_FILE_OPT = typer.Option(
    "--metrics-file",
    metavar="PATH",
    help="Write Prometheus metrics to PATH (textfile collector; atomic, every 15 s and at the end).",
)
_METRICS_PORT_OPT = typer.Option(
    "--metrics-port",
    min=0,
    max=65535,
    metavar="N",
    help="Serve /metrics and /healthz on port N while the run lasts (0: any free port).",
)
_METRICS_HOST_OPT = typer.Option(
    "--metrics-host", metavar="HOST", help="The address --metrics-port listens on."
)


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow run workflows/hr_onboarding.yaml --mock",
        "agentflow run invoices.yaml --inputs batch.jsonl --budget-usd 5 -o out.json",
        "agentflow run flow.yaml --format json --no-progress | jq .totals",
    ),
)
def run(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="Workflow files.")],
    input: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            metavar="NAME=VALUE",
            help="An input value, NAME=VALUE (repeatable; @file reads it).",
        ),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(
            "--inputs",
            metavar="FILE",
            help="Inputs from F.json, or F.jsonl with one workflow instance per line.",
        ),
    ] = None,
    mock: Annotated[
        bool,
        typer.Option(
            "--mock", help="No network, no keys: deterministic answers through LiteLLM's mock path."
        ),
    ] = False,
    mock_latency: Annotated[
        float,
        typer.Option(
            "--mock-latency", metavar="SECONDS", help="Seconds each mock call takes (>= 0)."
        ),
    ] = 0.0,
    budget_usd: Annotated[
        float | None,
        typer.Option(
            "--budget-usd",
            metavar="USD",
            help="A budget for the whole run, in USD (>= 0; 0 spends nothing).",
        ),
    ] = None,
    pricing: Annotated[
        Path | None,
        typer.Option(
            "--pricing",
            metavar="FILE",
            help="Extra prices: JSON {model: {input, output} or {same_as: model}} per 1M tokens.",
        ),
    ] = None,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency",
            min=1,
            metavar="N",
            help="Model calls in flight at once, over all workflows.",
        ),
    ] = DEFAULT_MAX_CONCURRENCY,
    max_workflows: Annotated[
        int,
        typer.Option(
            "--max-workflows", min=1, metavar="N", help="Workflow instances running at once."
        ),
    ] = DEFAULT_MAX_WORKFLOWS,
    log_dir: Annotated[
        Path, typer.Option("--log-dir", metavar="DIR", help="Where the JSONL run log goes.")
    ] = DEFAULT_LOG_DIR,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            metavar="ID",
            help="The run's id, a plain name: letters, digits, '.', '_', '-' (default: time-based).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the outputs to this JSON file."),
    ] = None,
    format: Annotated[
        TextOrJson,
        typer.Option(
            "--format", "-f", metavar="text|json", help="text, or one JSON document on stdout."
        ),
    ] = TextOrJson.text,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No live progress display.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings, failures and the result.")
    ] = False,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="PATH|redis://HOST:PORT/DB",
            envvar="AGENTFLOW_STATE",
            help="The state database: journal, cache and standing budgets (default: state.db "
            "beside the log dir); or a Redis that keeps rate limits and standing budgets "
            "shared by every process naming it (the journal then stays beside the log dir).",
        ),
    ] = None,
    log_prompts: Annotated[
        bool,
        typer.Option(
            "--log-prompts",
            help="Also record each rendered prompt and raw answer in the run log (redacted).",
        ),
    ] = False,
    cache: Annotated[
        bool | None,
        typer.Option(
            "--cache/--no-cache",
            help="Reuse identical earlier answers at $0 for every agent, or for none "
            "(default: as each agent's cache: says).",
        ),
    ] = None,
    heartbeat: Annotated[
        float,
        typer.Option(
            "--heartbeat",
            min=0,
            metavar="SECONDS",
            help="Off a terminal, a progress line at most this often while agents run (0: off).",
        ),
    ] = 30.0,
    max_answer_bytes: Annotated[
        int,
        typer.Option(
            "--max-answer-bytes",
            min=1024,
            metavar="BYTES",
            help="The most one answer may hold in memory; longer ones are cut, and say so "
            "(default 32 MiB). Log lines are cut at 1 MB; -o keeps what was kept.",
        ),
    ] = 32 * 1024 * 1024,
    metrics_file: Annotated[Path | None, _METRICS_FILE_OPT] = None,
    metrics_port: Annotated[int | None, _METRICS_PORT_OPT] = None,
    metrics_host: Annotated[str, _METRICS_HOST_OPT] = "127.0.0.1",
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            metavar="FILE",
            help="Also write a JUnit XML report: one test case per agent per instance.",
        ),
    ] = None,
    secret_env: SecretEnv = None,
    queue: Annotated[str | None, _QUEUE_OPT] = None,
    queue_only: Annotated[
        bool,
        typer.Option(
            "--queue-only",
            help="With --queue: enqueue and collect the events, leave the work to workers.",
        ),
    ] = False,
    lease: Annotated[float, _LEASE_OPT] = 30.0,
) -> None:
    """Run workflows. Exit 0 ok, 1 failed, 2 invalid, 3 budget, 4 partial, 130/143 interrupted."""
    use_secret_env(secret_env)

    def body() -> int:
        from agentflow.cli.run_cmd import run_command
        from agentflow.run.launch import RunOptions

        return run_command(
            RunOptions(
                files=tuple(files),
                input_pairs=tuple(input or ()),
                inputs_file=inputs,
                mock=mock,
                mock_latency=mock_latency,
                budget_usd=budget_usd,
                max_concurrency=max_concurrency,
                max_workflows=max_workflows,
                log_dir=log_dir,
                run_id=run_id,
                output=output,
                format=format.value,
                progress=not no_progress,
                quiet=quiet,
                state=split_state(state)[0],
                shared_state=split_state(state)[1],
                cache=cache,
                log_prompts=log_prompts,
                argv=_argv(),
                heartbeat=heartbeat,
                max_answer_bytes=max_answer_bytes,
                secret_env=tuple(secret_env or ()),
                metrics_file=metrics_file,
                metrics_port=metrics_port,
                metrics_host=metrics_host,
                junit=junit,
                pricing=pricing,
                queue=queue,
                queue_only=queue_only,
                lease=lease,
            )
        )

    raise typer.Exit(guarded(body))


def _argv() -> tuple[str, ...]:
    """The command line as typed (the log redacts secrets in it)."""
    import sys

    return ("agentflow", *sys.argv[1:])


def _continue(
    mode: str,
    run_id: str,
    *,
    log_dir: Path,
    state: str | None,
    budget_usd: float | None,
    allow_changed: bool,
    select: list[str] | None,
    new_run_id: str | None,
    output: Path | None,
    format: TextOrJson,
    no_progress: bool,
    quiet: bool,
    metrics_file: Path | None,
    metrics_port: int | None,
    metrics_host: str,
    queue: str | None = None,
) -> None:
    def body() -> int:
        from agentflow.cli.continue_cmd import ContinueOptions, continue_command

        return continue_command(
            ContinueOptions(
                mode=mode,
                run_id=run_id,
                log_dir=log_dir,
                state=split_state(state)[0],
                shared_state=split_state(state)[1],
                budget_usd=budget_usd,
                allow_changed=allow_changed,
                select=tuple(select or ()),
                new_run_id=new_run_id,
                output=output,
                format=format.value,
                progress=not no_progress,
                quiet=quiet,
                argv=_argv(),
                metrics_file=metrics_file,
                metrics_port=metrics_port,
                metrics_host=metrics_host,
                queue=queue,
            )
        )

    raise typer.Exit(guarded(body))


_RUN_ID_ARG = typer.Argument(
    metavar="RUN_ID", help="The run to continue (agentflow runs lists them)."
)
_LOG_DIR_OPT = typer.Option("--log-dir", metavar="DIR", help="Where the run logs are.")
_STATE_OPT = typer.Option(
    "--state",
    metavar="PATH|redis://HOST:PORT/DB",
    envvar="AGENTFLOW_STATE",
    help="The state database, or the shared Redis (default: as the run recorded it).",
)
_BUDGET_OPT = typer.Option(
    "--budget-usd", metavar="USD", help="The run budget, over this run and the ones before it."
)
_CHANGED_OPT = typer.Option(
    "--allow-changed", help="Go on even though a workflow or inputs file changed since."
)
_NEW_ID_OPT = typer.Option("--run-id", metavar="ID", help="The new run's id (default: time-based).")
_OUTPUT_OPT = typer.Option(
    "--output", "-o", metavar="FILE", help="Write the outputs to this JSON file."
)
_FORMAT_OPT = typer.Option("--format", "-f", help="text, or one JSON document on stdout.")
_NO_PROGRESS_OPT = typer.Option("--no-progress", help="No live progress display.")
_QUIET_OPT = typer.Option("--quiet", "-q", help="Only warnings, failures and the result.")


@app.command()
def resume(
    run_id: Annotated[str, _RUN_ID_ARG],
    log_dir: Annotated[Path, _LOG_DIR_OPT] = DEFAULT_LOG_DIR,
    state: Annotated[str | None, _STATE_OPT] = None,
    budget_usd: Annotated[float | None, _BUDGET_OPT] = None,
    allow_changed: Annotated[bool, _CHANGED_OPT] = False,
    new_run_id: Annotated[str | None, _NEW_ID_OPT] = None,
    output: Annotated[Path | None, _OUTPUT_OPT] = None,
    format: Annotated[TextOrJson, _FORMAT_OPT] = TextOrJson.text,
    no_progress: Annotated[bool, _NO_PROGRESS_OPT] = False,
    quiet: Annotated[bool, _QUIET_OPT] = False,
    metrics_file: Annotated[Path | None, _METRICS_FILE_OPT] = None,
    metrics_port: Annotated[int | None, _METRICS_PORT_OPT] = None,
    metrics_host: Annotated[str, _METRICS_HOST_OPT] = "127.0.0.1",
    queue: Annotated[str | None, _QUEUE_OPT] = None,
) -> None:
    """Continue a run that was killed, cancelled or stopped by a budget.

    Finished agents are reused, answers already paid for are replayed at $0, only the
    rest is called. Same files (refused when changed), same inputs and settings.

    Example: agentflow resume 20261201T060000Z-1a2b3c --budget-usd 5
    """
    _continue(
        "resume",
        run_id,
        log_dir=log_dir,
        state=state,
        budget_usd=budget_usd,
        allow_changed=allow_changed,
        select=None,
        new_run_id=new_run_id,
        output=output,
        format=format,
        no_progress=no_progress,
        quiet=quiet,
        metrics_file=metrics_file,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        queue=queue,
    )


@app.command()
def retry(
    run_id: Annotated[str, _RUN_ID_ARG],
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            "-s",
            metavar="AGENT[+]",
            help="Re-run this agent (AGENT+ : and its dependants) instead of what failed (repeatable).",
        ),
    ] = None,
    log_dir: Annotated[Path, _LOG_DIR_OPT] = DEFAULT_LOG_DIR,
    state: Annotated[str | None, _STATE_OPT] = None,
    budget_usd: Annotated[float | None, _BUDGET_OPT] = None,
    allow_changed: Annotated[bool, _CHANGED_OPT] = False,
    new_run_id: Annotated[str | None, _NEW_ID_OPT] = None,
    output: Annotated[Path | None, _OUTPUT_OPT] = None,
    format: Annotated[TextOrJson, _FORMAT_OPT] = TextOrJson.text,
    no_progress: Annotated[bool, _NO_PROGRESS_OPT] = False,
    quiet: Annotated[bool, _QUIET_OPT] = False,
    metrics_file: Annotated[Path | None, _METRICS_FILE_OPT] = None,
    metrics_port: Annotated[int | None, _METRICS_PORT_OPT] = None,
    metrics_host: Annotated[str, _METRICS_HOST_OPT] = "127.0.0.1",
    queue: Annotated[str | None, _QUEUE_OPT] = None,
) -> None:
    """Re-run what failed in a past run, and what was skipped because of it.

    Everything else that completed is reused; the failed agents are asked afresh.

    Examples: agentflow retry latest-run-id;  agentflow retry RUN_ID --select extract+
    """
    _continue(
        "retry",
        run_id,
        log_dir=log_dir,
        state=state,
        budget_usd=budget_usd,
        allow_changed=allow_changed,
        select=select,
        new_run_id=new_run_id,
        output=output,
        format=format,
        no_progress=no_progress,
        quiet=quiet,
        metrics_file=metrics_file,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        queue=queue,
    )


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow worker --queue redis://redis.internal:6379/0",
        "agentflow worker --queue redis://redis:6379/0 --state redis://redis:6379/0 "
        "--exit-when-idle",
    ),
)
def worker(
    queue: Annotated[
        str,
        typer.Option(
            "--queue",
            metavar="redis://HOST:PORT/DB",
            envvar="AGENTFLOW_QUEUE",
            help="The Redis whose queued runs to work on (as given to run --queue).",
        ),
    ],
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="PATH|redis://HOST:PORT/DB",
            envvar="AGENTFLOW_STATE",
            help="Where rate limits and standing budgets are shared (a Redis), or the local "
            "state db for the response cache (default: .agentflow/state.db).",
        ),
    ] = None,
    max_workflows: Annotated[
        int,
        typer.Option("--max-workflows", min=1, metavar="N", help="Instances held at once."),
    ] = DEFAULT_MAX_WORKFLOWS,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency", min=1, metavar="N", help="Model calls in flight at once."
        ),
    ] = DEFAULT_MAX_CONCURRENCY,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id", metavar="ID", help="Work on this run only; leave when it is done."
        ),
    ] = None,
    exit_when_idle: Annotated[
        bool,
        typer.Option(
            "--exit-when-idle",
            help="Leave once no open run has work left (a Kubernetes Job); else keep polling.",
        ),
    ] = False,
    lease: Annotated[
        float | None,
        typer.Option(
            "--lease", metavar="SECONDS", help="Override the lease the run was enqueued with."
        ),
    ] = None,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            metavar="SECONDS",
            help="On SIGTERM, how long held instances may finish before they are handed back.",
        ),
    ] = 20.0,
) -> None:
    """Join queued runs from any host: claim instances, run them, hand back on SIGTERM.

    Exit 0 when idle or its run is done, 2 when the queue cannot be reached, 143/130 stopped.
    """

    def body() -> int:
        from agentflow.cli.worker_cmd import WorkerOptions, worker_command

        path, shared = split_state(state)
        return worker_command(
            WorkerOptions(
                queue=queue,
                state=path,
                shared_state=shared,
                max_workflows=max_workflows,
                max_concurrency=max_concurrency,
                run_id=run_id,
                exit_when_idle=exit_when_idle,
                lease=lease,
                grace=grace,
            )
        )

    raise typer.Exit(guarded(body))


def state_path(log_dir: Path, state: Path | None) -> Path:
    """The state database: `--state`, else `state.db` beside the log dir."""
    return state if state is not None else log_dir.parent / "state.db"


@app.command()
def runs(
    log_dir: Annotated[
        Path, typer.Option("--log-dir", metavar="DIR", help="Where the run logs are.")
    ] = DEFAULT_LOG_DIR,
    workflow: Annotated[
        str | None,
        typer.Option(
            "--workflow", "-w", metavar="NAME", help="Only runs of this workflow, and its trend."
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only runs that ended so: ok, failed, partial, budget, cancelled, unfinished (repeatable).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only runs started since: 7d, 12h, or a date (2026-11-30).",
        ),
    ] = None,
    last: Annotated[
        int | None, typer.Option("--last", "-n", min=1, metavar="N", help="Only the newest N.")
    ] = None,
    format: Annotated[
        TextOrJson, typer.Option("--format", "-f", help="text, or one JSON document on stdout.")
    ] = TextOrJson.text,
) -> None:
    """List past runs (id, parent, start, workflows, status, duration, cost, calls).

    With --workflow, also that workflow's cost and duration over its runs.

    Examples: agentflow runs --since 7d;  agentflow runs -w invoices --format json
    """

    def body() -> int:
        from agentflow.cli.boundary import stdout_console
        from agentflow.cli.runs_cmd import runs_command

        return runs_command(
            log_dir,
            workflow=workflow,
            statuses=tuple(status or ()),
            since=since,
            limit=last,
            format=format.value,
            out=stdout_console(),
        )

    raise typer.Exit(guarded(body))


@app.command()
def cache(
    action: Annotated[str, typer.Argument(metavar="stats|clear", help="stats, or clear.")],
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="clear: only answers cached longer ago than this (7d, 12h).",
        ),
    ] = None,
    log_dir: Annotated[
        Path,
        typer.Option(
            "--log-dir", metavar="DIR", help="The log dir; the state database is beside it."
        ),
    ] = DEFAULT_LOG_DIR,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            metavar="PATH",
            help="The state database (default: state.db beside the log dir).",
        ),
    ] = None,
    format: Annotated[
        TextOrJson, typer.Option("--format", "-f", help="text, or one JSON document on stdout.")
    ] = TextOrJson.text,
) -> None:
    """Show what the response cache holds, or clear it (all, or --older-than AGE)."""

    def body() -> int:
        from agentflow.cli.boundary import stdout_console
        from agentflow.cli.cache_cmd import cache_command

        return cache_command(
            action,
            state_path(log_dir, state),
            older_than=older_than,
            format=format.value,
            out=stdout_console(),
        )

    raise typer.Exit(guarded(body))


class ReportFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    html = "html"
    junit = "junit"


@app.command(
    cls=_Command,
    epilog=_examples(
        "agentflow report",
        "agentflow report r-20261124 --format html -o report.html",
        "agentflow report --format junit -o junit.xml",
        "agentflow report --compare r-1 r-2",
    ),
)
def report(
    run_id: Annotated[
        str,
        typer.Argument(
            metavar="RUN_ID", help="The run (default: latest; agentflow runs lists them)."
        ),
    ] = "latest",
    format: Annotated[
        ReportFormat,
        typer.Option(
            "--format", "-f", metavar="text|markdown|json|html|junit", help="The report's format."
        ),
    ] = ReportFormat.text,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the report to this file."),
    ] = None,
    log_dir: Annotated[
        Path, typer.Option("--log-dir", metavar="DIR", help="Where the run logs are.")
    ] = DEFAULT_LOG_DIR,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="RUN_A RUN_B",
            help="Per-agent cost, token, latency and failure deltas from RUN_A to RUN_B.",
        ),
    ] = None,
) -> None:
    """Report a past run (with the runs it continued): cost, latency, retries, waits, failures."""

    def body() -> int:
        from agentflow.cli.boundary import stdout_console
        from agentflow.cli.report_cmd import report_command

        return report_command(
            log_dir,
            run_id,
            format=format.value,
            output=output,
            compare=compare,
            out=stdout_console(),
        )

    raise typer.Exit(guarded(body))


def main() -> None:
    from agentflow.run import signals

    signals.install()
    install_redacting_streams()
    code = 0
    try:
        code = run_app(app)
    except SystemExit as exit:
        if isinstance(exit.code, str):
            print(exit.code, file=sys.stderr)
        code = exit.code if isinstance(exit.code, int) else (1 if exit.code else 0)
    signals.exit_now(code)

"""The `agentflow` command. Each command parses, calls one core function, renders.

Heavy modules are imported inside the commands, so `agentflow --help` stays instant and
never imports litellm.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from agentflow import __version__
from agentflow.cli.boundary import guarded

app = typer.Typer(
    name="agentflow",
    help="Validate, price and run declarative YAML workflows of LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# The JSON Schemas agentflow ships (schemas/<name>.schema.json).
SCHEMA_NAMES = ("workflow", "run-event", "run-result", "plan", "validate-result", "graph")


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
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Validate, price and run declarative YAML workflows of LLM agents."""


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Workflow files or folders.")],
    format: Annotated[
        ValidateFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ValidateFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    """Check workflow files: schema, references, cycles, templates, tools, prices. Exit 0 valid, 2 invalid."""
    from agentflow.cli.validate_cmd import validate as run_validate

    raise typer.Exit(guarded(lambda: run_validate(paths, format.value, strict)))


@app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="A workflow file.")],
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="Output format.")
    ] = GraphFormat.mermaid,
) -> None:
    """Print the workflow's dependency graph (Mermaid, DOT or JSON)."""

    def body() -> int:
        from agentflow.core import load_workflow
        from agentflow.graph.compile import compile_workflow
        from agentflow.graph.export import render_graph

        workflow = load_workflow(file)
        typer.echo(render_graph(workflow, compile_workflow(workflow), format.value), nl=False)
        return 0

    raise typer.Exit(guarded(body))


@app.command()
def schema(
    name: Annotated[
        str, typer.Argument(help="One of: " + ", ".join(SCHEMA_NAMES) + ".")
    ] = "workflow",
) -> None:
    """Print a JSON Schema (default: the workflow file format)."""

    def body() -> int:
        from agentflow.errors import UsageError
        from agentflow.schema.resources import schema_text

        if name not in SCHEMA_NAMES:
            raise UsageError(f"unknown schema '{name}'; choose one of {', '.join(SCHEMA_NAMES)}")
        typer.echo(schema_text(f"{name}.schema.json"), nl=False)
        return 0

    raise typer.Exit(guarded(body))


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="A workflow file.")],
    input: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="An input value, NAME=VALUE (repeatable)."),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option("--inputs", help="Inputs from F.json, or F.jsonl with one instance per line."),
    ] = None,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", help="A run budget in USD to check against.")
    ] = None,
    pricing: Annotated[
        Path | None,
        typer.Option(
            "--pricing", help="Extra prices: JSON {model: {input, output}} per 1M tokens."
        ),
    ] = None,
    format: Annotated[
        TableOrJson, typer.Option("--format", "-f", help="Output format.")
    ] = TableOrJson.table,
) -> None:
    """Price and time a run before a cent is spent. Exit 3 when the expected cost is over budget."""

    def body() -> int:
        from agentflow.cli.plan_cmd import plan_command

        return plan_command(file, input or [], inputs, budget_usd, pricing, format.value)

    raise typer.Exit(guarded(body))


@app.command()
def run(
    files: Annotated[list[Path], typer.Argument(help="Workflow files.")],
    input: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="An input value, NAME=VALUE (repeatable; @file reads it)."
        ),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(
            "--inputs", help="Inputs from F.json, or F.jsonl with one workflow instance per line."
        ),
    ] = None,
    mock: Annotated[
        bool,
        typer.Option(
            "--mock", help="No network, no keys: deterministic answers through LiteLLM's mock path."
        ),
    ] = False,
    mock_latency: Annotated[
        float, typer.Option("--mock-latency", help="Seconds each mock call takes.")
    ] = 0.0,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", help="A budget for the whole run, in USD.")
    ] = None,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency", min=1, help="Model calls in flight at once, over all workflows."
        ),
    ] = 512,
    max_workflows: Annotated[
        int, typer.Option("--max-workflows", min=1, help="Workflow instances running at once.")
    ] = 100,
    log_dir: Annotated[
        Path, typer.Option("--log-dir", help="Where the JSONL run log goes.")
    ] = Path(".agentflow/runs"),
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="The run's id (default: time-based).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the outputs to this JSON file.")
    ] = None,
    format: Annotated[
        TextOrJson, typer.Option("--format", "-f", help="text, or one JSON document on stdout.")
    ] = TextOrJson.text,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No live progress display.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings, failures and the result.")
    ] = False,
    heartbeat: Annotated[
        float,
        typer.Option(
            "--heartbeat",
            min=0,
            metavar="SECONDS",
            help="Off a terminal, a progress line at most this often while agents run (0: off).",
        ),
    ] = 30.0,
) -> None:
    """Run workflows. Exit 0 ok, 1 failed, 2 invalid, 3 budget, 4 partial, 130/143 interrupted."""

    def body() -> int:
        from agentflow.cli.run_cmd import RunOptions, run_command

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
                heartbeat=heartbeat,
            )
        )

    raise typer.Exit(guarded(body))


def main() -> None:
    from agentflow.cli import signals

    signals.install()
    code = 0
    try:
        app()
    except SystemExit as exit:
        if isinstance(exit.code, str):
            print(exit.code, file=sys.stderr)
        code = exit.code if isinstance(exit.code, int) else (1 if exit.code else 0)
    signals.exit_now(code)

"""`agentflow run FILE...`: parse into RunOptions, launch the run, render the result."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from agentflow.cli.boundary import EXIT_OK, print_json_data, silence_stdout, stderr_console
from agentflow.errors import RunSkipped
from agentflow.run import signals
from agentflow.run.launch import RunOptions, execute_run
from agentflow.sinks.summary import cost_table, failure_report

if TYPE_CHECKING:
    from agentflow.api import RunReport


def run_command(options: RunOptions) -> int:
    """Run the workflows; returns the exit code (see DESIGN: 0, 1, 2, 3, 4, 130, 143)."""
    console = stderr_console()
    try:
        report = asyncio.run(execute_run(options, console=console))
    except RunSkipped as skipped:
        print(f"skipped: {skipped}", file=sys.stderr)  # the group's holder is doing the work
        return EXIT_OK
    try:
        _render(options, report, console)
    except BrokenPipeError:
        # `agentflow run ... | head`: the run is done and logged; its exit code still counts.
        silence_stdout()
    if report.output_error is not None:
        console.print(f"[red]error[/red]: {escape(report.output_error)}")
        # The run's own failure code wins; an ok run whose outputs file is missing is not ok.
    return signals.exit_code(report.exit_code)


def _render(options: RunOptions, report: RunReport, console: Console) -> None:
    outputs = report.results()
    result = report.result
    if options.format == "json":
        print(json.dumps(report.to_json(), indent=2, default=str))
        return
    if not options.quiet:
        console.print(cost_table(report.summary))
    if result.status != "ok":
        console.print(
            failure_report(report.summary, report.continue_command or report.rerun_command)
        )
    out = Console(highlight=False, soft_wrap=True)
    for item in outputs:
        if len(outputs) > 1:
            out.print(f"# {item['workflow']}#{item['instance']}: {item['status']}")
        print_json_data(out, item["outputs"])
    console.print(
        f"[dim]run {result.run_id}: {result.status}; log: {escape(str(report.log_path))}[/dim]"
    )

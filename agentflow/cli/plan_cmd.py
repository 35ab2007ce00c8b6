"""`agentflow plan FILE`: price and time a run before a cent is spent."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from agentflow.api import plan_workflow
from agentflow.cli.boundary import EXIT_BUDGET, EXIT_OK
from agentflow.core import load_workflow
from agentflow.errors import UsageError
from agentflow.plan.jsontext import indented_json
from agentflow.plan.render import plan_markdown, plan_table
from agentflow.run.heap import paused_collector
from agentflow.values import check_usd

FORMATS = ("table", "json", "markdown")


def plan_command(
    file: Path,
    input: list[str],
    inputs: Path | None = None,
    budget_usd: float | None = None,
    pricing: Path | None = None,
    format: str = "table",
    console: Console | None = None,
    state: Path | str | None = None,
    cache: bool | None = None,
) -> int:
    """Plan FILE (every instance of a batch); exit 3 when an expected cost is over a budget.

    Without `--input`/`--inputs` the workflow is planned with its declared defaults and
    inputs it cannot see are counted as unknown; with them, inputs are checked as for `run`.
    A JSONL batch is planned as one: per-instance rows, the batch total, and the run budget
    checked against that total. `--format json` prints one `agentflow.plan/v1` document.
    """
    try:
        check_usd("--budget-usd", budget_usd)
    except UsageError as exc:
        raise UsageError(f"{exc} (see 'agentflow plan --help')") from None
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: choose table, json or markdown")
    with paused_collector():  # a plan only builds: nothing for the collector to find
        result = plan_workflow(
            load_workflow(file),
            inputs_file=inputs,
            input_pairs=input,
            budget_usd=budget_usd,
            pricing=pricing,
            state=state,
            cache=cache,
        )
        document = indented_json(result.to_json()) if format == "json" else ""
    if format == "json":
        # A plain write: data for scripts, and Rich would spend seconds wrapping a big plan.
        sys.stdout.write(document + "\n")
    elif format == "markdown":
        sys.stdout.write(plan_markdown(result.plan))
        for line in result.notes():
            sys.stdout.write(f"\n{line}\n")
    else:
        out = console or Console(highlight=False)
        out.print(plan_table(result.plan))
        for line in result.notes():
            out.out(line, highlight=False)
    return EXIT_BUDGET if result.over_budget else EXIT_OK

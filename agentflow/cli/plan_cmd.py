"""`agentflow plan FILE`: price and time a run before a cent is spent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from agentflow.cli.boundary import EXIT_BUDGET, EXIT_OK
from agentflow.core import load_workflow
from agentflow.errors import UsageError
from agentflow.plan.estimate import make_batch_plan, make_plan
from agentflow.plan.pricing import load_price_book
from agentflow.plan.render import plan_markdown, plan_table, plan_to_json

FORMATS = ("table", "json", "markdown")


def plan_command(
    file: Path,
    input: list[str],
    inputs: Path | None = None,
    budget_usd: float | None = None,
    pricing: Path | None = None,
    format: str = "table",
    console: Console | None = None,
) -> int:
    """Plan FILE (every instance of a batch); exit 3 when an expected cost is over a budget.

    Without `--input`/`--inputs` the workflow is planned with its declared defaults and
    inputs it cannot see are counted as unknown; with them, inputs are checked as for `run`.
    A JSONL batch is planned as one: per-instance rows, the batch total, and the run budget
    checked against that total. `--format json` prints one `agentflow.plan/v1` document.
    """
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: choose table, json or markdown")
    workflow = load_workflow(file)
    book = load_price_book(workflow.pricing, pricing)
    if input or inputs is not None:
        from agentflow.cli.inputs import parse_input_rows

        rows = parse_input_rows(workflow, input, inputs)
    else:
        rows = [("defaults", {})]
    if len(rows) > 1 or (inputs is not None and inputs.suffix == ".jsonl"):
        plan = make_batch_plan(workflow, rows, book, budget_usd=budget_usd)
    else:
        plan = make_plan(workflow, rows[0][1] or None, book, budget_usd=budget_usd)
    if format == "json":
        # A plain write: data for scripts, and Rich would spend seconds wrapping a big plan.
        sys.stdout.write(json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False) + "\n")
    elif format == "markdown":
        sys.stdout.write(plan_markdown(plan))
    else:
        (console or Console(highlight=False)).print(plan_table(plan))
    return EXIT_BUDGET if plan.budget.verdict == "over" else EXIT_OK

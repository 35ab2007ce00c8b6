"""`agentflow plan FILE`: price and time a run before a cent is spent."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from agentflow.cli.boundary import EXIT_BUDGET, EXIT_OK
from agentflow.cli.values import check_usd
from agentflow.core import load_workflow
from agentflow.errors import UsageError
from agentflow.plan.estimate import Plan, make_plan
from agentflow.plan.pricing import load_price_book
from agentflow.plan.render import plan_table, plan_to_json


def plan_command(
    file: Path,
    input: list[str],
    inputs: Path | None = None,
    budget_usd: float | None = None,
    pricing: Path | None = None,
    format: str = "table",
    console: Console | None = None,
) -> int:
    """Plan every instance of FILE; exit 3 when an expected cost is over a budget.

    Without `--input`/`--inputs` the workflow is planned with its declared defaults and
    inputs it cannot see are counted as unknown; with them, inputs are checked as for `run`.
    `--format json` prints one `agentflow.plan/v1` document per instance, one a line when
    there are several.
    """
    try:
        check_usd("--budget-usd", budget_usd)
    except UsageError as exc:
        raise UsageError(f"{exc} (see 'agentflow plan --help')") from None
    if format not in ("table", "json"):
        raise UsageError(f"--format {format!r}: choose table or json")
    workflow = load_workflow(file)
    instances: list[dict[str, Any] | None] = [None]
    if input or inputs is not None:
        from agentflow.cli.inputs import parse_inputs

        instances = list(parse_inputs(workflow, input, inputs))
    book = load_price_book(workflow.pricing, pricing)
    plans = [make_plan(workflow, values, book, budget_usd=budget_usd) for values in instances]
    if format == "json":
        # Plain writes: data for scripts, and Rich would spend seconds wrapping a big plan.
        indent = 2 if len(plans) == 1 else None
        for plan in plans:
            sys.stdout.write(
                json.dumps(plan_to_json(plan), indent=indent, ensure_ascii=False) + "\n"
            )
        return _exit_code(plans)
    out = console or Console(highlight=False)
    for plan in plans:
        out.print(plan_table(plan))
    return _exit_code(plans)


def _exit_code(plans: list[Plan]) -> int:
    return EXIT_BUDGET if any(p.budget.verdict == "over" for p in plans) else EXIT_OK

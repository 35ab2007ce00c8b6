"""`agentflow plan FILE`: price and time a run before a cent is spent."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from agentflow.cli.boundary import EXIT_BUDGET, EXIT_OK
from agentflow.cli.values import check_usd
from agentflow.core import load_workflow
from agentflow.errors import UsageError
from agentflow.model.types import Workflow
from agentflow.plan.estimate import make_batch_plan, make_plan
from agentflow.plan.pricing import load_price_book, require_prices
from agentflow.plan.render import plan_markdown, plan_table, plan_to_json

if TYPE_CHECKING:
    from agentflow.state.forecast import CacheForecast

FORMATS = ("table", "json", "markdown")
DEFAULT_STATE = Path(".agentflow/state.db")


def _cache_forecast(
    workflow: Workflow,
    input: list[str],
    inputs: Path | None,
    state: Path | None,
    cache: bool | None,
) -> CacheForecast | None:
    """What the response cache would answer, for agents that cache (None when none does,
    or when the inputs are not all given: requests could not be known)."""
    from agentflow.state.journal import CacheChoice

    choice = CacheChoice(cache)
    if not any(choice.policy(a) is not None for a in workflow.agents):
        return None
    from agentflow.cli.inputs import parse_inputs
    from agentflow.state.forecast import forecast_cache

    try:
        instances = parse_inputs(workflow, input, inputs)
    except UsageError:
        return None
    path = state if state is not None else DEFAULT_STATE
    return forecast_cache(workflow, instances, path, choice=choice, now=time.time())


def plan_command(
    file: Path,
    input: list[str],
    inputs: Path | None = None,
    budget_usd: float | None = None,
    pricing: Path | None = None,
    format: str = "table",
    console: Console | None = None,
    state: Path | None = None,
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
    workflow = load_workflow(file)
    book = load_price_book(workflow.pricing, pricing)
    if budget_usd is not None:
        require_prices(workflow, book)  # as run does: unknown prices cannot be checked
    if input or inputs is not None:
        from agentflow.cli.inputs import parse_input_rows

        rows = parse_input_rows(workflow, input, inputs)
    else:
        rows = [("defaults", {})]
    if len(rows) > 1 or (inputs is not None and inputs.suffix == ".jsonl"):
        plan = make_batch_plan(workflow, rows, book, budget_usd=budget_usd)
    else:
        plan = make_plan(workflow, rows[0][1] or None, book, budget_usd=budget_usd)
    forecast = _cache_forecast(workflow, input, inputs, state, cache)
    if format == "json":
        document = plan_to_json(plan)
        if forecast is not None:
            document["cache"] = forecast.as_json()
        # A plain write: data for scripts, and Rich would spend seconds wrapping a big plan.
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    elif format == "markdown":
        sys.stdout.write(plan_markdown(plan))
        if forecast is not None:
            sys.stdout.write(f"\n{forecast.line()}\n")
    else:
        out = console or Console(highlight=False)
        out.print(plan_table(plan))
        if forecast is not None:
            out.out(forecast.line(), highlight=False)
    return EXIT_BUDGET if plan.budget.verdict == "over" else EXIT_OK

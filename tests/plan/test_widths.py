"""The plan at any console width: every number whole and equal to the one in --format json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console
from syrupy.assertion import SnapshotAssertion

from agentflow.core import load_workflow
from agentflow.model.types import Budget
from agentflow.plan.estimate import Plan, make_batch_plan, make_plan
from agentflow.plan.pricing import load_price_book
from agentflow.plan.render import plan_markdown, plan_table, plan_to_json
from agentflow.sinks import format_usd

from .builders import CANDIDATE, hr_workflow

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
)
WIDTHS = (60, 80, 120)

# A number standing alone (not part of a model name such as gpt-4o-mini), with an optional
# second half of a span (`2-6`).
_NUMBER = re.compile(r"(?<![\w.$/-])(\$?)(\d[\d,]*(?:\.\d+)?)(?:-(\d[\d,]*))?(?![\w.-])")


def _single() -> Plan:
    wf = hr_workflow(budget=Budget(max_usd=1.0))
    return make_plan(wf, {"candidate": CANDIDATE}, load_price_book(wf.pricing), budget_usd=0.002)


def _batch() -> Plan:
    wf = hr_workflow(budget=Budget(max_usd=0.02))
    rows = [
        ("batch.jsonl:1", {"candidate": CANDIDATE}),
        ("batch.jsonl:3", {"candidate": {**CANDIDATE, "languages": ["en"]}}),
    ]
    return make_batch_plan(wf, rows, load_price_book(wf.pricing), budget_usd=0.03)


def _example() -> Plan:
    # The shipped example: long model names and four-digit token counts, which clipped.
    workflow = load_workflow(Path(__file__).parents[2] / "workflows" / "hr_onboarding.yaml")
    return make_plan(workflow, None, load_price_book(workflow.pricing), budget_usd=0.002)


PLANS = {"single": _single, "batch": _batch, "example": _example}


def _text(plan: Plan, width: int) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(plan_table(plan))
    return console.export_text()


def _json_numbers(doc: Any) -> list[float]:
    if isinstance(doc, bool):
        return []
    if isinstance(doc, int | float):
        return [float(doc)]
    if isinstance(doc, dict):
        return [n for v in doc.values() for n in _json_numbers(v)]
    if isinstance(doc, list):
        return [n for v in doc for n in _json_numbers(v)]
    return []


def _in_json(token: str, numbers: list[float]) -> bool:
    value = float(token.replace(",", ""))
    decimals = len(token.partition(".")[2])
    return any(round(n, decimals) == value for n in numbers)


def _cost_strings(doc: dict[str, Any]) -> list[str]:
    """Every cost the table shows, formatted from the JSON document."""
    out = []
    for entry in doc["agents"]:
        out += [format_usd(entry["cost_usd"][s]) for s in ("low", "expected", "worst")]
    # totals over unpriced calls show their known part as a floor ("≥$0.0380", "at least")
    out += [format_usd(doc["totals"]["known_cost_usd"][s]) for s in ("low", "expected", "worst")]
    out.append(format_usd(doc["totals"]["worst_with_retries"]["known_cost_usd"]))
    for instance in doc.get("instances", []):
        totals = instance["plan"]["totals"]["known_cost_usd"]
        out += [format_usd(totals[s]) for s in ("low", "expected", "worst")]
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", list(PLANS))
def test_every_number_is_whole_and_equals_the_json(
    kind: str, width: int, snapshot: SnapshotAssertion
) -> None:
    plan = PLANS[kind]()
    doc = json.loads(json.dumps(plan_to_json(plan)))
    if kind == "example":
        doc["path"] = Path(doc["path"]).name
    text = _text(plan, width)
    assert "…" not in text
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    numbers = _json_numbers(doc)
    tokens = [(m.group(2), m.group(3)) for m in _NUMBER.finditer(text)]
    assert len(tokens) > 20
    for first, second in tokens:
        assert _in_json(first, numbers), f"{first} is not in the JSON"
        if second:
            assert _in_json(second, numbers), f"{second} is not in the JSON"
    # And the other way round: every cost of the JSON is in the text, whole.
    words = set(text.replace("(", " ").replace(")", " ").replace(",", " ").split())
    for cost in _cost_strings(doc):
        assert cost.rstrip(",") in words or cost in text, cost
    assert text == snapshot


def test_a_budget_below_half_a_cent_keeps_its_digits() -> None:
    text = _text(_single(), 120)
    assert "run budget $0.0020" in text


def test_a_batch_is_checked_against_the_run_budget_for_its_total() -> None:
    wf = hr_workflow()
    book = load_price_book(wf.pricing)
    one = make_plan(wf, {"candidate": CANDIDATE}, book)
    budget = one.totals.cost.expected * 1.5  # enough for one instance, not for three
    rows = [(f"b.jsonl:{n}", {"candidate": CANDIDATE}) for n in (1, 2, 4)]
    batch = make_batch_plan(wf, rows, book, budget_usd=budget)
    assert batch.totals.cost.expected == pytest.approx(3 * one.totals.cost.expected)
    assert batch.budget.verdict == "over" and batch.budget.scope == "run"
    assert [i.line for i in batch.instances] == [1, 2, 4]
    text = _text(batch, 120)
    for origin in ("b.jsonl:1", "b.jsonl:2", "b.jsonl:4"):
        assert origin in text
    assert "batch total" in text and "Budget: OVER (run budget" in text
    doc = json.loads(json.dumps(plan_to_json(batch)))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert [i["line"] for i in doc["instances"]] == [1, 2, 4]
    assert doc["budget"]["verdict"] == "over" and doc["budget"]["scope"] == "run"
    assert doc["totals"]["known_cost_usd"]["expected"] == pytest.approx(
        sum(i["plan"]["totals"]["known_cost_usd"]["expected"] for i in doc["instances"]), abs=1e-7
    )
    # one agent has no price: the totals are unknown, not the known part
    assert doc["totals"]["cost_usd"]["expected"] is None


def test_the_verdict_names_the_tightest_scope_not_the_first() -> None:
    # Both budgets only warn (the worst case is over both); the workflow's is much tighter.
    wf = hr_workflow(budget=Budget(max_usd=0.009))
    plan = make_plan(wf, {"candidate": CANDIDATE}, load_price_book(wf.pricing), budget_usd=0.03)
    assert {c.scope: c.verdict for c in plan.budget.checks}["run"] == "warning"
    assert {c.scope: c.verdict for c in plan.budget.checks}["workflow"] == "warning"
    assert plan.budget.scope == "workflow"
    assert "workflow budget $0.0090" in _text(plan, 120)


def test_markdown_renders_tables_and_the_verdict(snapshot: SnapshotAssertion) -> None:
    single = plan_markdown(_single())
    assert "| agent / model | items | calls | in | out | low | expected | worst |" in single
    assert "**Budget: OVER**" in single
    batch = plan_markdown(_batch())
    assert "| `batch.jsonl:3` |" in batch and "**batch total**" in batch
    assert (single, batch) == snapshot

"""The plan's JSON document (schema-valid, snapshotted) and its table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console
from syrupy.assertion import SnapshotAssertion

from agentflow.model.types import Budget, Limit
from agentflow.plan.estimate import Plan, make_plan
from agentflow.plan.pricing import load_price_book
from agentflow.plan.render import PLAN_FORMAT, plan_table, plan_to_json

from .builders import CANDIDATE, hr_workflow

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
)


def _plan(inputs: dict[str, Any] | None = None, budget_usd: float | None = 0.01) -> Plan:
    wf = hr_workflow(budget=Budget(max_usd=1.0), limits=(Limit("openai/*", rpm=60, tpm=100_000),))
    return make_plan(wf, inputs, load_price_book(wf.pricing), budget_usd=budget_usd)


def _stable(doc: dict[str, Any]) -> dict[str, Any]:
    # The price map's identity changes with every litellm release.
    doc["price_map"] = {k: "<redacted>" for k in doc["price_map"]}
    return doc


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["format"]["const"] == PLAN_FORMAT


@pytest.mark.parametrize("inputs", [{"candidate": CANDIDATE}, None])
def test_plan_json_matches_the_schema(inputs: dict[str, Any] | None) -> None:
    doc = json.loads(json.dumps(plan_to_json(_plan(inputs))))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["format"] == "agentflow.plan/v1"


def test_plan_json_names_the_price_map() -> None:
    doc = plan_to_json(_plan({"candidate": CANDIDATE}))
    assert doc["price_map"]["overrides"] == 1
    assert len(doc["price_map"]["price_map_sha256"]) == 64


def test_plan_json_snapshot(snapshot: SnapshotAssertion) -> None:
    assert _stable(plan_to_json(_plan({"candidate": CANDIDATE}))) == snapshot


def test_plan_table_snapshot(snapshot: SnapshotAssertion) -> None:
    console = Console(record=True, width=120, color_system=None)
    console.print(plan_table(_plan({"candidate": CANDIDATE})))
    text = console.export_text()
    assert "unknown" in text and "Budget: WARNING" in text
    assert text == snapshot


def test_plan_table_without_inputs_flags_the_unknown_fan_out(snapshot: SnapshotAssertion) -> None:
    console = Console(record=True, width=120, color_system=None)
    console.print(plan_table(_plan(None, budget_usd=None)))
    text = console.export_text()
    assert "fan-out unknown" in text
    assert text == snapshot


def test_a_large_plan_lists_only_the_most_expensive_agents_and_says_so() -> None:
    plan = _plan({"candidate": CANDIDATE})
    console = Console(record=True, width=160, color_system=None)
    console.print(plan_table(plan, max_rows=2))
    text = console.export_text()
    worst = sorted(plan.agents, key=lambda a: -(a.cost.worst or 0.0))
    for shown in worst[:2]:
        assert shown.id in text
    for hidden in worst[2:]:
        assert f"\n {hidden.id}" not in text
    assert f"2 most expensive of {len(plan.agents)} agents shown" in text

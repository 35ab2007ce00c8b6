"""`agentflow plan` on every shipped example: the table and the JSON, pinned by snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from syrupy.assertion import SnapshotAssertion

from agentflow.core import load_workflow
from agentflow.plan.estimate import make_plan
from agentflow.plan.pricing import load_price_book
from agentflow.plan.render import plan_table, plan_to_json

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.yaml"))


def _plan_json(path: Path) -> dict[str, Any]:
    workflow = load_workflow(path)
    plan = make_plan(workflow, None, load_price_book(workflow.pricing))
    doc = plan_to_json(plan)
    # The price map's identity changes with every litellm release; the prices themselves
    # are what the snapshot pins.
    doc["price_map"] = {k: "<redacted>" for k in doc["price_map"]}
    doc["path"] = Path(doc["path"]).name  # where the checkout is does not matter
    return doc


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_plan_json(path: Path, snapshot: SnapshotAssertion) -> None:
    doc = _plan_json(path)
    assert doc["totals"]["cost_usd"]["expected"] > 0
    assert doc == snapshot


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_plan_table(path: Path, snapshot: SnapshotAssertion) -> None:
    workflow = load_workflow(path)
    plan = make_plan(workflow, None, load_price_book(workflow.pricing))
    console = Console(record=True, width=120, color_system=None)
    console.print(plan_table(plan))
    text = console.export_text()
    assert f"Plan: {workflow.name}" in text and "Budget:" in text
    assert text == snapshot

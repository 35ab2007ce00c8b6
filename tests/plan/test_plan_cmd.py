"""The plan command: output formats and the over-budget exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from agentflow.cli import plan_cmd
from agentflow.errors import UsageError
from agentflow.plan.estimate import make_plan

from .builders import hr_workflow


@pytest.fixture(autouse=True)
def _workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_cmd, "load_workflow", lambda _path: hr_workflow())


@pytest.fixture
def priced(tmp_path: Path) -> Path:
    """A pricing file for the one model of the workflow without a known price."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"acme/unknown-model": {"input": 1.0, "output": 2.0}}))
    return path


def _run(*, budget_usd: float | None, fmt: str, pricing: Path | None = None) -> tuple[int, str]:
    console = Console(record=True, width=120, color_system=None)
    code = plan_cmd.plan_command(
        Path("hr.yaml"), [], None, budget_usd, pricing, fmt, console=console
    )
    return code, console.export_text()


def test_json_format_prints_one_plan_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(budget_usd=None, fmt="json")
    assert code == 0
    assert json.loads(capsys.readouterr().out)["format"] == "agentflow.plan/v1"


def test_an_expected_cost_over_budget_exits_3(priced: Path) -> None:
    code, out = _run(budget_usd=0.000001, fmt="table", pricing=priced)
    assert code == 3
    assert "Budget: OVER" in out


def test_a_budget_over_an_unknown_price_cannot_be_checked() -> None:
    with pytest.raises(UsageError, match=r"'acme/unknown-model' .* has no known price"):
        _run(budget_usd=100.0, fmt="table")


def test_a_worst_case_over_budget_only_warns_and_exits_0(priced: Path) -> None:
    code, out = _run(budget_usd=0.02, fmt="table", pricing=priced)
    assert code == 0
    assert "Budget: WARNING" in out


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--format"):
        _run(budget_usd=None, fmt="yaml")


def test_a_jsonl_batch_is_one_plan_checked_against_the_batch_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], priced: Path
) -> None:
    batch = tmp_path / "batch.jsonl"
    line = json.dumps({"candidate": {"resume": "Ada", "languages": ["en", "fr"]}})
    batch.write_text(f"{line}\n\n{line}\n{line}\n", encoding="utf-8")
    # One instance's expected cost fits; the batch's does not: exit 3, as `run` would stop.
    one = make_plan(hr_workflow(), {"candidate": {"resume": "Ada"}}, _book())
    budget = one.totals.cost.expected * 2
    args = (Path("hr.yaml"), [], batch, budget, priced)
    console = Console(record=True, width=120, color_system=None)
    assert plan_cmd.plan_command(*args, "table", console=console) == 3
    text = console.export_text()
    capsys.readouterr()
    assert text.count("Plan: hr_onboarding") == 1
    assert all(f"batch.jsonl:{n}" in text for n in (1, 3, 4)) and "batch total" in text
    assert plan_cmd.plan_command(*args, "json") == 3
    doc = json.loads(capsys.readouterr().out)
    assert [i["line"] for i in doc["instances"]] == [1, 3, 4]
    assert doc["budget"]["scope"] == "run" and doc["budget"]["verdict"] == "over"
    assert plan_cmd.plan_command(*args, "markdown") == 3
    assert "| `" + str(batch) + ":4` |" in capsys.readouterr().out


def _book():  # type: ignore[no-untyped-def]
    from agentflow.plan.pricing import load_price_book

    return load_price_book(hr_workflow().pricing)

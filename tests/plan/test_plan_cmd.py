"""The plan command: output formats and the over-budget exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from agentflow.cli import plan_cmd
from agentflow.errors import UsageError

from .builders import hr_workflow


@pytest.fixture(autouse=True)
def _workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_cmd, "load_workflow", lambda _path: hr_workflow())


def _run(*, budget_usd: float | None, fmt: str) -> tuple[int, str]:
    console = Console(record=True, width=120, color_system=None)
    code = plan_cmd.plan_command(Path("hr.yaml"), [], None, budget_usd, None, fmt, console=console)
    return code, console.export_text()


def test_json_format_prints_one_plan_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(budget_usd=None, fmt="json")
    assert code == 0
    assert json.loads(capsys.readouterr().out)["format"] == "agentflow.plan/v1"


def test_an_expected_cost_over_budget_exits_3() -> None:
    code, out = _run(budget_usd=0.000001, fmt="table")
    assert code == 3
    assert "Budget: OVER" in out


def test_a_worst_case_over_budget_only_warns_and_exits_0() -> None:
    code, out = _run(budget_usd=0.02, fmt="table")
    assert code == 0
    assert "Budget: WARNING" in out


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--format"):
        _run(budget_usd=None, fmt="yaml")

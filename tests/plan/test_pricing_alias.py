"""Gateway aliases under `pricing:` (`same_as:`), and budgets over unknown prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow.cli.app import app
from agentflow.cli.boundary import run_app
from agentflow.core import analyze
from agentflow.model.types import Price
from agentflow.plan.pricing import load_price_book

ALIAS = "openai/team-gpt"
MINI = "openai/gpt-4o-mini"


def test_an_alias_is_priced_as_its_target_and_says_so() -> None:
    book = load_price_book([Price(ALIAS, 0.0, 0.0, same_as=MINI)])
    alias, target = book.lookup(ALIAS), book.lookup(MINI)
    assert alias is not None and target is not None
    assert (alias.input_per_token, alias.output_per_token) == (
        target.input_per_token,
        target.output_per_token,
    )
    assert alias.source == f"workflow:{ALIAS} same_as litellm:gpt-4o-mini"
    assert book.cost(ALIAS, 1_000_000, 0) == pytest.approx(0.15)


def test_an_alias_of_an_alias_resolves_and_a_loop_prices_nothing() -> None:
    book = load_price_book(
        [
            Price("gw/a", 0.0, 0.0, same_as="gw/b"),
            Price("gw/b", 0.0, 0.0, same_as=MINI),
            Price("gw/x", 0.0, 0.0, same_as="gw/y"),
            Price("gw/y", 0.0, 0.0, same_as="gw/x"),
        ]
    )
    assert book.cost("gw/a", 1_000_000, 0) == pytest.approx(0.15)
    assert book.lookup("gw/x") is None


def test_a_pricing_file_may_alias_too(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({ALIAS: {"same_as": MINI}}))
    book = load_price_book((), path)
    assert book.cost(ALIAS, 0, 1_000_000) == pytest.approx(0.6)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    return path


FLOW = """version: 1
name: gw
defaults: {model: openai/team-gpt, max_tokens: 50}
agents:
  a: {prompt: "Say hi."}
"""


def test_a_workflow_alias_validates_and_plans_with_a_price(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, FLOW + 'pricing:\n  "openai/team-gpt": {same_as: openai/gpt-4o-mini}\n')
    result = analyze(path)
    assert result.errors == () and result.warnings == ()
    code = run_app(app, ["plan", str(path), "--budget-usd", "1", "-f", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["agents"][0]["price"]["source"].endswith("same_as litellm:gpt-4o-mini")
    assert doc["totals"]["cost_usd"]["expected"] > 0
    assert doc["budget"]["verdict"] == "ok"


def test_an_alias_to_an_unpriced_model_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, FLOW + 'pricing:\n  "openai/team-gpt": {same_as: openai/gpt-4o-mimi}\n')
    result = analyze(path)
    messages = [d.render() for d in result.errors]
    assert len(messages) == 1, messages
    assert "gw.yaml:7:32:" in messages[0]
    assert "same_as 'openai/gpt-4o-mimi' has no known price" in messages[0]


def test_a_pricing_entry_is_a_price_or_an_alias(tmp_path: Path) -> None:
    path = _write(tmp_path, FLOW + 'pricing:\n  "openai/team-gpt": {same_as: ""}\n')
    assert analyze(path).errors


def test_plan_budget_over_unknown_prices_exits_2_with_the_fix_like_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, FLOW)
    code = run_app(app, ["plan", str(path), "--budget-usd", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'openai/team-gpt' (agent 'a') has no known price" in err
    assert "same_as: <a priced model>" in err and "--pricing FILE" in err
    code = run_app(app, ["run", str(path), "--mock", "--budget-usd", "1", "--no-progress"])
    assert code == 2
    assert "model 'openai/team-gpt' (agent 'a') has no known price" in capsys.readouterr().err


def test_plan_totals_over_unknown_prices_are_not_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, FLOW)
    assert run_app(app, ["plan", str(path), "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["cost_usd"] == {"low": None, "expected": None, "worst": None}
    assert doc["totals"]["unpriced_calls"]["expected"] == 1
    assert doc["totals"]["worst_with_retries"]["cost_usd"] is None
    assert run_app(app, ["plan", str(path)]) == 0
    text = capsys.readouterr().out
    assert "$0.00000" not in text
    assert "Worst case with every retry: 4 calls, unknown, 4 calls unpriced" in text


def test_run_takes_a_pricing_file_like_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, FLOW)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({ALIAS: {"same_as": MINI}}))
    argv = ["run", str(path), "--mock", "--budget-usd", "1", "--pricing", str(prices)]
    code = run_app(app, [*argv, "--no-progress", "--format", "json", "--log-dir", str(tmp_path)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["totals"]["cost_usd"] > 0
    assert doc["totals"]["unknown_cost_calls"] == 0
    lines = [json.loads(line) for line in Path(doc["log_path"]).read_text().splitlines()]
    response = next(e for e in lines if e["event"] == "llm.response")
    assert response["cost_source"] == "pricing"

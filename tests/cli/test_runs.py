"""`agentflow runs` and `agentflow cache` through the CLI: listings, filters, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from agentflow.llm.types import LLMResponse
from agentflow.schema.resources import load_schema
from agentflow.state.store import StateStore
from tests.state.test_history import write_log

from .helpers import invoke


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    log_dir = tmp_path / "runs"
    log_dir.mkdir()
    write_log(log_dir, "r-first", day=1, cost=0.2)
    write_log(log_dir, "r-second", day=2, cost=0.3, status="failed")
    write_log(log_dir, "r-third", day=3, cost=0.25, parent="r-second")
    write_log(log_dir, "r-payroll", day=4, workflows=("payroll",), cost=9.0)
    return log_dir


def test_runs_lists_every_run_with_its_numbers_whole(logs: Path) -> None:
    result = invoke(["runs", "--log-dir", str(logs)])
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.startswith("r-")]
    assert [line.split()[0] for line in lines] == ["r-first", "r-second", "r-third", "r-payroll"]
    third = lines[2].split()
    assert third[1] == "r-second"  # parent
    assert "$0.2500" in third and "7" in third


def test_runs_at_60_columns_stacks_instead_of_clipping(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = invoke(["runs", "--log-dir", str(logs)])
    assert "r-third (from r-second): ok" in result.stdout
    assert "$9.0000" in result.stdout
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 60


def test_runs_filters_and_the_workflow_trend(logs: Path) -> None:
    result = invoke(["runs", "--log-dir", str(logs), "-w", "invoices", "--status", "ok"])
    ids = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("r-")]
    assert ids[:2] == ["r-first", "r-third"]  # the run table ...
    assert "trend of invoices" in result.stdout  # ... then the trend
    assert "cost +25%" in result.stdout


def test_runs_json_follows_its_schema(logs: Path) -> None:
    result = invoke(["runs", "--log-dir", str(logs), "-w", "invoices", "-f", "json", "--last", "2"])
    document = json.loads(result.stdout)
    jsonschema.validate(document, load_schema("runs.schema.json"))
    assert [r["run_id"] for r in document["runs"]] == ["r-second", "r-third"]
    assert document["trend"]["cost_change"] == pytest.approx(-1 / 6)


def test_runs_since_takes_a_date_or_an_age(logs: Path) -> None:
    result = invoke(["runs", "--log-dir", str(logs), "--since", "2026-11-03", "-f", "json"])
    assert [r["run_id"] for r in json.loads(result.stdout)["runs"]] == ["r-third", "r-payroll"]
    bad = invoke(["runs", "--log-dir", str(logs), "--since", "last tuesday"])
    assert bad.exit_code == 2
    assert "give a duration (7d, 12h, 30m) or a date" in bad.stderr


def test_runs_of_an_empty_or_missing_log_dir_say_so(tmp_path: Path) -> None:
    result = invoke(["runs", "--log-dir", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "no runs in" in result.stdout
    (tmp_path / "file").write_text("x")
    bad = invoke(["runs", "--log-dir", str(tmp_path / "file")])
    assert bad.exit_code == 2 and "is a file, not a folder" in bad.stderr


def test_cache_stats_and_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    state = tmp_path / "state.db"
    store = StateStore.open(state)
    answer = LLMResponse("hi", (), 10, 2, "openai/gpt-4o-mini")
    store.cache_response("old", answer, 0.5, ttl_s=None, now=0.0)
    store.cache_response("new", answer, 0.5, ttl_s=None, now=4e9)
    store.cached_response("new", now=4e9)
    store.close()

    stats = json.loads(invoke(["cache", "stats", "--state", str(state), "-f", "json"]).stdout)
    assert (stats["entries"], stats["hits"], stats["saved_usd"]) == (2, 1, 0.5)
    cleared = invoke(["cache", "clear", "--state", str(state), "--older-than", "7d"])
    assert "removed 1 cached answer " in cleared.stdout
    assert "entries   1" in invoke(["cache", "stats", "--state", str(state)]).stdout
    bad = invoke(["cache", "clear", "--state", str(state), "--older-than", "soon"])
    assert bad.exit_code == 2 and "give a duration" in bad.stderr
    assert invoke(["cache", "purge", "--state", str(state)]).exit_code == 2


def test_cache_stats_default_state_is_beside_the_log_dir(tmp_path: Path) -> None:
    result = invoke(["cache", "stats", "--log-dir", str(tmp_path / "logs" / "runs")])
    assert result.exit_code == 0
    assert str(tmp_path / "logs" / "state.db") in result.stdout

"""Fixtures of the end-to-end suite: the run-event validator and the background fault run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.e2e.cli import Started, start_cli, write_workflow
from tests.fakeserver import FakeLLMServer, ServerThread

ROOT = Path(__file__).resolve().parents[2]


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value)  # ValueError: not a date-time
    return True


@pytest.fixture(scope="session")
def event_validator() -> Draft202012Validator:
    """schemas/run-event.schema.json with format checking, `date-time` included.

    jsonschema checks `date-time` only when rfc3339-validator is installed; the standard
    library's ISO parser stands in so the format is really checked.
    """
    schema = json.loads((ROOT / "schemas" / "run-event.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    checker = FormatChecker()
    checker.checks("date-time", raises=ValueError)(_date_time)
    return Draft202012Validator(schema, format_checker=checker)


# -- the fault run: started first, because it is mostly waiting -------------------------------

FAULT_LEVELS, FAULT_WIDTH = 4, 50


@dataclass(frozen=True, slots=True)
class FaultRun:
    """A 4 x 50 layered workflow running against its own server full of random faults."""

    server: FakeLLMServer
    run: Started


def fault_workflow(server: FakeLLMServer) -> dict[str, object]:
    agents: dict[str, object] = {}
    for level in range(FAULT_LEVELS):
        for i in range(FAULT_WIDTH):
            agent: dict[str, object] = {"prompt": f"Level {level}, item {i}: summarise."}
            if level:
                agent["needs"] = [f"l{level - 1}_{i}"]
            agents[f"l{level}_{i}"] = agent
    return {
        "name": "flaky_provider",
        "defaults": {
            "model": "openai/gpt-4o-mini",
            "max_tokens": 50,
            "api_base": server.base_url,
            "timeout": "2s",
            "retry": {"max_attempts": 10, "initial_delay": "100ms", "max_delay": "2s"},
        },
        "agents": agents,
    }


@pytest.fixture(scope="session")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    """The fault run, on a server of its own: 20% 429 (Retry-After 1 s), 10% 500, 5% hangs."""
    with ServerThread() as server:
        server.configure(p_429=0.2, p_500=0.1, p_hang=0.05, seed=11, hang_limit_s=30.0)
        folder = tmp_path_factory.mktemp("faults")
        flow = write_workflow(folder, fault_workflow(server))
        run = start_cli(flow, cwd=folder, run_id="r-faults")
        try:
            yield FaultRun(server, run)
        finally:
            run.kill()


@pytest.fixture(scope="session", autouse=True)
def _idle_runs_start_first(request: pytest.FixtureRequest) -> None:
    """Start the fault run with the first e2e test, when it is selected.

    It spends ~20 s in Retry-After pauses and 2 s timeouts; running it beside the other
    tests instead of after them keeps the suite within its time budget.
    """
    if any(item.path.name == "test_faults.py" for item in request.session.items):
        request.getfixturevalue("fault_run")

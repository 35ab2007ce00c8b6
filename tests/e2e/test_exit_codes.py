"""Exit codes a shell script or cron job can rely on: 1 failed, 2 invalid, 3 budget, 4 partial."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cli import Outcome, Started, by_marker, of, start_cli, write_workflow
from tests.fakeserver import FakeLLMServer, Recorded, ServerThread

pytestmark = pytest.mark.e2e

MINI = "openai/gpt-4o-mini"


def _defaults(server: FakeLLMServer, **extra: object) -> dict[str, object]:
    return {
        "model": MINI,
        "max_tokens": 100,
        "api_base": server.base_url,
        "retry": {"max_attempts": 3, "initial_delay": "50ms", "max_delay": "100ms"},
        **extra,
    }


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert "Traceback" not in text
    return lines[0]


INVALID_YAML = (
    "version: 1\n"
    "name: broken\n"
    "defaults: {model: openai/gpt-4o-mini}\n"
    "agents:\n"
    "  screen:\n"
    "    prompt: Score the candidate.\n"
    "    max_tokens: lots\n"
)


def _failing(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "fails",
        "defaults": _defaults(server),
        "agents": {
            "extract": {"prompt": "<extract> Read the invoice. [[fail=400]]"},
            "approve": {"prompt": "<approve> Approve {{ agents.extract.output }}."},
        },
    }


def _pricey(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "pricey",
        # Worst case of one call: ~20 prompt + 1,000 output tokens of gpt-4o, about $0.01.
        "defaults": _defaults(server, model="openai/gpt-4o", max_tokens=1000),
        "budget": {"max_usd": 0.001},
        "agents": {"summarise": {"prompt": "<summarise> Summarise the quarter."}},
    }


def _partial(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "mostly_fine",
        "defaults": _defaults(server),
        "agents": {
            "core": {"prompt": "<core> Classify the stock levels."},
            "enrich": {
                "prompt": "<enrich> Add supplier notes. [[fail=400]]",
                "critical": False,
            },
            "notes": {
                "prompt": "<notes> Write notes from {{ agents.enrich.output }}.",
                "critical": False,
            },
        },
        "outputs": {"core": "{{ agents.core.output }}", "notes": "{{ agents.notes.output }}"},
    }


COUNTED = {
    "name": "counted",
    "inputs": {"count": {"type": "integer", "minimum": 1}},
    "defaults": {"model": MINI},
    "agents": {"say": {"prompt": "Count to {{ inputs.count }}."}},
}


@dataclass(frozen=True, slots=True)
class Runs:
    outcomes: dict[str, Outcome]
    requests: list[Recorded]
    folders: dict[str, Path]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Every scenario of this module at once, against one server (prompts carry <tags>)."""
    with ServerThread() as server:
        folders = {
            name: tmp_path_factory.mktemp(name)
            for name in ("failed", "invalid", "bad_value", "unknown_name", "budget", "partial")
        }
        (folders["invalid"] / "broken.yaml").write_text(INVALID_YAML, encoding="utf-8")
        started: dict[str, Started] = {
            "failed": start_cli(
                write_workflow(folders["failed"], _failing(server)),
                cwd=folders["failed"],
                run_id="r-fail",
            ),
            "invalid": start_cli(
                folders["invalid"] / "broken.yaml", cwd=folders["invalid"], run_id="r-invalid"
            ),
            "budget": start_cli(
                write_workflow(folders["budget"], _pricey(server)),
                cwd=folders["budget"],
                run_id="r-budget",
            ),
            "partial": start_cli(
                write_workflow(folders["partial"], _partial(server)),
                cwd=folders["partial"],
                run_id="r-partial",
            ),
        }
        for name, pair in (("bad_value", "count=many"), ("unknown_name", "cuont=3")):
            flow = write_workflow(folders[name], COUNTED)
            started[name] = start_cli(flow, "--input", pair, cwd=folders[name], run_id="r-in")
        try:
            outcomes = {name: run.finish() for name, run in started.items()}
        finally:
            for run in started.values():
                run.kill()
        yield Runs(outcomes, list(server.requests), folders)


def test_a_critical_agent_with_a_bad_request_fails_the_run_with_exit_1(runs: Runs) -> None:
    run = runs.outcomes["failed"]

    assert run.returncode == 1, run.describe()
    events = run.events()
    [failed] = of(events, "agent.failed")
    assert failed["agent"] == "extract"
    assert failed["error_class"] == "bad_request"
    assert of(events, "llm.retry") == [], "a 400 is not retryable"
    assert len(by_marker(runs.requests, "<extract>")) == 1
    assert by_marker(runs.requests, "<approve>") == []
    [skipped] = of(events, "agent.skipped")
    assert (skipped["agent"], skipped["reason"]) == ("approve", "dependency_failed")
    assert of(events, "workflow.completed")[0]["status"] == "failed"
    assert (events[-1]["event"], events[-1]["status"], events[-1]["exit_code"]) == (
        "run.completed",
        "failed",
        1,
    )
    assert "extract" in run.stderr
    # One request was made and answered with a 400: one call, one attempt.
    assert (failed["calls"], failed["attempts"]) == (1, 1), failed


def test_an_invalid_workflow_file_exits_2_with_one_located_line(runs: Runs) -> None:
    run = runs.outcomes["invalid"]

    assert run.returncode == 2, run.describe()
    line = _one_line(run.stderr)
    assert re.search(r"broken\.yaml:7:\d+: ", line), line
    assert "max_tokens" in line
    assert run.stdout == ""
    assert not (runs.folders["invalid"] / "logs").exists(), "nothing ran, so no log"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("bad_value", r"input 'count'"),
        ("unknown_name", r"unknown input 'cuont'.*did you mean 'count'"),
    ],
)
def test_a_bad_input_exits_2_with_one_line_naming_it(
    runs: Runs, scenario: str, expected: str
) -> None:
    run = runs.outcomes[scenario]

    assert run.returncode == 2, run.describe()
    assert re.search(expected, _one_line(run.stderr)), run.stderr
    assert run.stdout == ""


def test_a_refused_budget_reservation_stops_the_run_with_exit_3(runs: Runs) -> None:
    run = runs.outcomes["budget"]

    assert run.returncode == 3, run.describe()
    events = run.events()
    [exceeded] = of(events, "budget.exceeded")
    assert exceeded["limit_usd"] == 0.001
    assert exceeded["requested_usd"] > 0.001
    assert by_marker(runs.requests, "<summarise>") == [], "a refused call never goes out"
    assert (events[-1]["status"], events[-1]["exit_code"]) == ("budget", 3)


def test_only_a_noncritical_failure_is_partial_with_exit_4(runs: Runs) -> None:
    run = runs.outcomes["partial"]

    assert run.returncode == 4, run.describe()
    events = run.events()
    assert [(e["agent"], e["error_class"]) for e in of(events, "agent.failed")] == [
        ("enrich", "bad_request")
    ]
    [skipped] = of(events, "agent.skipped")
    assert (skipped["agent"], skipped["reason"]) == ("notes", "dependency_failed")
    assert by_marker(runs.requests, "<notes>") == []
    assert [e["agent"] for e in of(events, "agent.completed")] == ["core"]
    [workflow] = of(events, "workflow.completed")
    assert workflow["status"] == "partial"
    assert workflow["outputs"]["notes"] is None
    assert (events[-1]["status"], events[-1]["exit_code"]) == ("partial", 4)

    # Text format: stdout holds only the outputs; the cost table goes to stderr and, at the
    # width a non-terminal gets (80 columns), still shows its cells in full.
    assert json.loads(run.stdout) == workflow["outputs"]
    assert "Total" in run.stderr
    table = run.stderr[run.stderr.index("Cost") : run.stderr.index("Total")]
    assert "…" not in table, table

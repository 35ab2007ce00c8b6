"""Every example in workflows/ runs offline with `--mock` and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cli import Outcome, Started, cli_command, cli_env, of, read_log, schema_errors
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

EXAMPLES = sorted((ROOT / "workflows").glob("*.yaml"))
WITH_TOOLS = {
    "hr_onboarding",
    "finance_invoice_processing",
    "inventory_reorder",
    "compliance_audit",
}


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """All examples at once, each in its own empty folder, so the log goes to the default dir."""
    started = {
        example.stem: Started(
            cli_command("run", example, "--mock"),
            tmp_path_factory.mktemp(example.stem),
            None,
            cli_env(),
            log_dir=".agentflow/runs",
        )
        for example in EXAMPLES
    }
    try:
        yield {name: run.finish() for name, run in started.items()}
    finally:
        for run in started.values():
            run.kill()


def test_the_examples_are_all_found() -> None:
    assert {p.stem for p in EXAMPLES} >= WITH_TOOLS


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_example_runs_with_mock_and_writes_a_valid_complete_log(
    example: str, example_runs: dict[str, Outcome], event_validator: object
) -> None:
    outcome = example_runs[example]
    assert outcome.returncode == 0, outcome.describe()
    assert outcome.log_path is not None, "expected one log in .agentflow/runs"
    events = read_log(outcome.log_path)

    assert schema_errors(event_validator, events) == []
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "run.started"
    assert events[0]["mock"] is True
    assert events[-1]["event"] == "run.completed"
    assert events[-1]["status"] == "ok"
    assert events[-1]["exit_code"] == 0
    assert of(events, "agent.failed") == []
    if example in WITH_TOOLS:
        calls, results = of(events, "tool.call"), of(events, "tool.result")
        assert calls, "the mock calls each declared tool once"
        assert {c["call_id"] for c in calls} == {r["call_id"] for r in results}
        # The mock's arguments come from the tools' `examples`/`enum`, so every lookup finds
        # what it looks for: no tool error, and no "not found" answer either.
        failed = [(r["tool"], r["output"]) for r in results if not r["ok"]]
        assert failed == [], f"tool failures in the {example} demo: {failed}"
        misses = [
            (r["tool"], r["output"])
            for r in results
            if any(miss in str(r["output"]) for miss in ('"found": false', '"error":', 'skus": ["'))
        ]
        assert misses == [], f"tool lookups that found nothing in the {example} demo: {misses}"

"""Faults at the provider and around the run: random 429s, 500s and hung requests (every agent
still completes through retries), huge answers, and a log deleted mid-run."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.cli import of, schema_errors, start_cli, wait_for, write_workflow
from tests.e2e.conftest import FAULT_LEVELS, FAULT_WIDTH, FaultRun
from tests.fakeserver import FakeLLMServer, ServerThread

pytestmark = pytest.mark.e2e


def test_two_hundred_agents_complete_through_429s_500s_and_hangs(
    fault_run: FaultRun, event_validator: object
) -> None:
    run = fault_run.run.finish(timeout=100)

    assert run.returncode == 0, run.describe()
    events = run.events()
    assert len(of(events, "agent.completed")) == FAULT_LEVELS * FAULT_WIDTH
    assert of(events, "agent.failed") == []
    requests = list(fault_run.server.requests)
    statuses = Counter(r.status for r in requests)
    assert statuses[429] > 0 and statuses[500] > 0, statuses
    retries = Counter(e["error_class"] for e in of(events, "llm.retry"))
    assert {"rate_limit", "server_error", "timeout"} <= set(retries), retries
    # Every fault the server produced was retried, and nothing else was.
    hung = sum(1 for r in requests if r.status in (None, 503))
    assert retries["rate_limit"] == statuses[429]
    assert retries["server_error"] == statuses[500]
    assert retries["timeout"] == hung
    assert events[-1]["totals"]["retries"] == sum(retries.values())
    assert (events[-1]["status"], events[-1]["exit_code"]) == ("ok", 0)
    # The retry and wait events of a faulty run follow the log's schema.
    waits = [e for e in events if e["event"] in ("llm.retry", "ratelimit.wait")]
    assert schema_errors(event_validator, waits) == []


# -- answers of any size, and a log deleted under the run ---------------------------------------

ROW_BYTES = 400_000


def _big_answers(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "big_answers",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 100, "api_base": server.base_url},
        "agents": {
            "rows": {
                "for_each": '{{ ["a", "b", "c"] }}',
                "prompt": f"Copy out ledger {{{{ item }}}}. [[answer_bytes={ROW_BYTES}]]",
            }
        },
        "outputs": {f"row{i}": f"{{{{ agents.rows.output[{i}] }}}}" for i in range(3)},
    }


def _slow_chain(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "slow_chain",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 40, "api_base": server.base_url},
        "agents": {
            "first": {"prompt": "First. [[latency_ms=1500]]"},
            "second": {"prompt": "Second. [[latency_ms=1500]]", "needs": ["first"]},
            "third": {"prompt": "Third. [[latency_ms=1500]]", "needs": ["second"]},
        },
        "outputs": {"last": "{{ agents.third.output }}"},
    }


@pytest.mark.timeout(300)
def test_huge_answers_keep_log_lines_bounded_and_outputs_whole_and_a_deleted_log_is_reported(
    tmp_path: Path,
) -> None:
    with ServerThread() as big_server, ServerThread() as slow_server:
        big_dir, slow_dir = tmp_path / "big", tmp_path / "slow"
        big_dir.mkdir()
        slow_dir.mkdir()
        big = start_cli(
            write_workflow(big_dir, _big_answers(big_server)),
            "--no-progress",
            "-o",
            big_dir / "out.json",
            cwd=big_dir,
            run_id="r-big",
        )
        slow = start_cli(
            write_workflow(slow_dir, _slow_chain(slow_server)),
            "--no-progress",
            "-o",
            slow_dir / "out.json",
            cwd=slow_dir,
            run_id="r-gone",
        )
        try:
            assert slow.log_path is not None
            wait_for(slow.log_path.exists, timeout=90, what="the slow run's log")
            shutil.rmtree(slow_dir / "logs")
            gone = slow.finish(timeout=90)
            kept = big.finish(timeout=90)
        finally:
            big.kill()
            slow.kill()

    assert gone.returncode == 0, gone.describe()
    assert gone.stderr.count("was deleted while the run was writing it") == 1, gone.stderr
    assert json.loads((slow_dir / "out.json").read_text())[0]["status"] == "ok"

    assert kept.returncode == 0, kept.describe()
    assert kept.log_path is not None
    raw = kept.log_path.read_bytes().splitlines()
    assert max(len(line) for line in raw) <= 1_000_000
    events = kept.events()
    [completed] = of(events, "agent.completed")
    assert completed["truncated"] is True
    assert completed["original_bytes"] > 3 * ROW_BYTES
    [result] = json.loads((big_dir / "out.json").read_text())
    assert [len(result["outputs"][f"row{i}"]) for i in range(3)] == [ROW_BYTES] * 3

"""Random 429s, 500s and hung requests: every agent still completes through retries."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.cli import of, schema_errors
from tests.e2e.conftest import FAULT_LEVELS, FAULT_WIDTH, FaultRun

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

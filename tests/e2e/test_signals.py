"""SIGTERM and SIGINT stop a run cleanly: final events written, reservations released, 143/130."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from tests.e2e.cli import Outcome, Started, of, read_log, start_cli, wait_for, write_workflow
from tests.fakeserver import FakeLLMServer, ServerThread

pytestmark = pytest.mark.e2e

SLOW = 6
SIGNALS = {"SIGTERM": (signal.SIGTERM, 143), "SIGINT": (signal.SIGINT, 130)}


@dataclass(frozen=True, slots=True)
class Stopped:
    outcome: Outcome
    seconds_to_exit: float


def _slow(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "slow_batch",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 100, "api_base": server.base_url},
        "agents": {
            **{f"slow{i}": {"prompt": f"Reconcile {i}. [[latency_ms=8000]]"} for i in range(SLOW)},
            "report": {"prompt": "Report on {{ agents.slow0.output }}."},
        },
    }


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stopped]]:
    """Both signals at once, each sent to its own run (on its own server) mid-flight."""
    with ExitStack() as stack:
        started: dict[str, tuple[Started, FakeLLMServer]] = {}
        for name in SIGNALS:
            server = stack.enter_context(ServerThread())
            folder = tmp_path_factory.mktemp(name)
            flow = write_workflow(folder, _slow(server))
            run = start_cli(flow, "--budget-usd", "1", cwd=folder, run_id="r-sig")
            stack.callback(run.kill)
            started[name] = (run, server)
        results: dict[str, Stopped] = {}
        for name, (run, server) in started.items():
            log = run.log_path
            assert log is not None
            wait_for(
                lambda log=log: log.exists() and len(of(read_log(log), "llm.request")) == SLOW,
                timeout=30,
                what=f"{SLOW} llm.request events",
            )
            wait_for(lambda s=server: s.in_flight == SLOW, timeout=10, what="requests in flight")
            sent = time.monotonic()
            run.process.send_signal(SIGNALS[name][0])
            outcome = run.finish(timeout=10)
            results[name] = Stopped(outcome, time.monotonic() - sent)
        yield results


@pytest.mark.parametrize("name", list(SIGNALS))
def test_a_signal_cancels_in_flight_calls_and_closes_the_log(
    stopped: dict[str, Stopped], name: str
) -> None:
    run, code = stopped[name].outcome, SIGNALS[name][1]

    assert run.returncode == code, run.describe()
    assert stopped[name].seconds_to_exit < 10
    events = run.events()
    cancelled, completed = events[-2], events[-1]
    assert cancelled["event"] == "run.cancelled"
    assert cancelled["signal"] == name
    assert completed["event"] == "run.completed"
    assert (completed["status"], completed["exit_code"]) == ("cancelled", code)
    assert of(events, "llm.response") == []
    skipped = {e["agent"]: e["reason"] for e in of(events, "agent.skipped")}
    assert skipped == {**{f"slow{i}": "cancelled" for i in range(SLOW)}, "report": "cancelled"}
    assert [b["scope"] for b in completed["budgets"]] == ["run"]
    assert completed["budgets"][0]["reserved_usd"] == 0
    assert completed["budgets"][0]["spent_usd"] == 0
    assert "Traceback" not in run.stderr

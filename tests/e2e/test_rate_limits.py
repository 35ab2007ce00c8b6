"""Declared rate limits hold on the wire, and a 429's Retry-After pauses the key for everybody."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.cli import of, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer, Scripted

pytestmark = pytest.mark.e2e

RATE, BURST, AGENTS = 20, 5, 200


def _flat(server: FakeLLMServer, count: int, limit: dict[str, int]) -> dict[str, object]:
    return {
        "name": "saturating",
        "defaults": {
            "model": "openai/gpt-4o-mini",
            "max_tokens": 20,
            "api_base": server.base_url,
            "retry": {"max_attempts": 3, "initial_delay": "100ms", "max_delay": "3s"},
        },
        "limits": {"openai/*": limit},
        "agents": {f"a{i}": {"prompt": f"<a{i}> Say {i}."} for i in range(count)},
    }


def _busiest_second(starts: list[float]) -> int:
    """The most requests whose start falls in any half-open window [t, t + 1 s)."""
    starts = sorted(starts)
    best, lo = 0, 0
    for hi, t in enumerate(starts):
        while t - starts[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_a_saturating_run_stays_within_rpm_plus_burst_and_uses_the_limit(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(tmp_path, _flat(fake_server, AGENTS, {"rpm": RATE * 60, "burst": BURST}))

    run = run_cli(flow, cwd=tmp_path, run_id="r-rpm", timeout=100)

    assert run.returncode == 0, run.describe()
    starts = sorted(r.started for r in fake_server.requests)
    assert len(starts) == AGENTS
    # The limiter's promise holds where it admits calls (the llm.request lines, written as
    # each call is let through): never more than RATE + BURST in any second.
    admitted = [
        datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()
        for e in of(run.events(), "llm.request")
    ]
    assert _busiest_second(admitted) <= RATE + BURST
    # At the server, sending adds jitter: the first burst's requests leave one after the
    # other, so they can arrive a few milliseconds late and share a window with a call
    # admitted a full second after them. One request of slack, never more.
    assert _busiest_second(starts) <= RATE + BURST + 1
    # After the initial burst, the bucket admits RATE per second, evenly.
    achieved = (AGENTS - BURST) / (starts[-1] - starts[0])
    assert achieved >= 0.9 * RATE, f"{achieved:.2f} requests/s"
    assert of(run.events(), "ratelimit.wait"), "a saturating run waits for the limiter"


def test_a_429_with_retry_after_pauses_the_key_for_every_agent(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    # `first` warms the client up alone; then eight agents share 10 requests a second, one
    # at a time. The first of them gets a 429 with Retry-After: 2. Without a shared pause the
    # next agent's request would arrive about 100 ms after it.
    fake_server.enqueue(Scripted(), Scripted(fail=429, retry_after=2))
    document = _flat(fake_server, 8, {"rpm": 600, "burst": 1})
    agents: dict[str, dict[str, object]] = document["agents"]  # type: ignore[assignment]
    for agent in agents.values():
        agent["needs"] = ["first"]
    agents["first"] = {"prompt": "<first> Say hello."}
    flow = write_workflow(tmp_path, document)

    run = run_cli(flow, cwd=tmp_path, run_id="r-pause")

    assert run.returncode == 0, run.describe()
    records = sorted(fake_server.requests, key=lambda r: r.started)
    assert len(records) == 10  # nine answers and the 429
    refused = records[1]
    assert refused.status == 429
    assert refused.finished is not None
    quiet_until = refused.finished + 2.0
    during = [r.started - refused.finished for r in records[2:] if r.started < quiet_until]
    assert during == [], f"requests {during} s after the 429, inside its 2 s Retry-After"
    [retry] = of(run.events(), "llm.retry")
    assert retry["error_class"] == "rate_limit"
    assert retry["delay_s"] >= 2.0

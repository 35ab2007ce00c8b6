"""Adaptive limits: 600 agents against a server enforcing an undeclared 300 rpm.

    .venv/bin/python -m benchmarks adaptive

The server (`tests.fakeserver`, `enforce_rpm`) refills 5 requests a second into a bucket of
one second's worth, answers 429 at once (Retry-After, retry-after-ms, x-ratelimit-*) when
it is empty and sends the x-ratelimit-* headers on every answer. The workflow declares no
`limits:`. Targets (DESIGN section 11): every agent completes, 429s <= 5% of requests,
makespan <= 1.15 x the bound calls / rate = 120 s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from benchmarks.report import Check, Outcome, seconds
from benchmarks.server import FakeServer
from benchmarks.workloads import independent_agents, workflow_yaml

if TYPE_CHECKING:
    from benchmarks.suite import Context

AGENTS = 600
RPM = 300
LATENCY_MS = 200
BOUND_S = AGENTS / (RPM / 60.0)


def adaptive(ctx: Context) -> Outcome:
    from benchmarks.suite import _agentflow_run, _log_events, _shown

    started = time.perf_counter()
    agents = independent_agents(AGENTS, latency_ms=LATENCY_MS)
    with FakeServer() as server:
        yaml = ctx.write(
            "adaptive.yaml",
            workflow_yaml("adaptive", agents, api_base=server.base_url, timeout="30s"),
        )
        server.reset()
        server.control(enforce_rpm=RPM)
        done, doc, command = _agentflow_run(yaml, ctx.log_dir("adaptive"), timeout=900.0)
        stats = server.stats()
    completed = doc["totals"]["agents"]["completed"]
    requests = int(stats["count"])
    refused = int(stats["rate_limited"])
    makespan = float(doc["duration_s"])
    adjustments = [e for e in _log_events(doc["log_path"]) if e["event"] == "ratelimit.adjusted"]
    share = refused / requests if requests else 0.0
    checks = (
        Check(
            f"all {AGENTS} agents complete, no limits: declared",
            f"{completed} completed, exit {done.returncode}",
            completed == AGENTS and done.returncode == 0,
        ),
        Check(
            "429s <= 5% of requests",
            f"{share:.1%} ({refused} of {requests})",
            share <= 0.05,
        ),
        Check(
            f"makespan <= 1.15 x {BOUND_S:.0f} s",
            f"{makespan / BOUND_S:.3f} x ({seconds(makespan)})",
            makespan <= 1.15 * BOUND_S,
        ),
        Check("ratelimit.adjusted events", str(len(adjustments)), None),
    )
    details = (
        f"{AGENTS} independent agents, {LATENCY_MS} ms each, no `limits:`; the server enforces "
        f"{RPM} rpm (a bucket of one second's worth) with immediate 429s and x-ratelimit-* "
        "headers. Single run.",
        f"Server statuses: {stats['statuses']}.",
    )
    return Outcome(
        "adaptive",
        f"{AGENTS} agents under an undeclared {RPM} rpm",
        "`agentflow run` with adaptive limits and no `limits:` against a fake server that "
        "enforces a rate it does not declare (`.venv/bin/python -m benchmarks adaptive`).",
        checks,
        details,
        (_shown(command, ctx),),
        time.perf_counter() - started,
    )

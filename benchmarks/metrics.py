"""What `--metrics-port` costs: B6's zero-latency throughput with metrics off and on.

    .venv/bin/python -m benchmarks metrics

One worker process (`python -m benchmarks.metrics ARGS`) runs the engine as `agentflow run`
wires it (JSONL log, cost summary), alternating rounds with metrics off and with the metrics
sink and the `/metrics` endpoint on, scraped over HTTP every 15 s (Prometheus's usual
interval; its default is 1 min) from another thread. What one scrape costs is measured
too, so any other interval can be worked out. The target is the median of the per-pair
ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.procs import PYTHON, command_line, run
from benchmarks.report import Check, Outcome, median, runs

ROUNDS = 5
SCRAPE_EVERY_S = 15.0
TARGET = 0.97  # on >= 97% of off


def metrics(ctx: Any) -> Outcome:
    from benchmarks.server import FakeServer
    from benchmarks.suite import B6_AGENTS, B6_CONCURRENCY, _shown
    from benchmarks.workloads import independent_agents, workflow_yaml

    started = time.perf_counter()
    with FakeServer() as server:
        yaml = ctx.write(
            "metrics.yaml",
            workflow_yaml("metrics_b6", independent_agents(B6_AGENTS), api_base=server.base_url),
        )
        warm = ctx.write(
            "metrics_warm.yaml",
            workflow_yaml("metrics_warm", independent_agents(50), api_base=server.base_url),
        )
        args = {
            "yaml": str(yaml),
            "warmup_yaml": str(warm),
            "concurrency": B6_CONCURRENCY,
            "rounds": ROUNDS,
            "log_dir": str(ctx.log_dir("metrics")),
        }
        argv = [PYTHON, "-m", "benchmarks.metrics", json.dumps(args)]
        done = run(argv, timeout=1200)
        if done.returncode != 0:
            raise RuntimeError(
                f"benchmarks.metrics failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    off, on = result["off_calls_per_s"], result["on_calls_per_s"]
    ratios = [b / a for a, b in zip(off, on, strict=True)]
    ratio = median(ratios)
    checks = (
        Check("calls/s, metrics off", f"{median(off):.0f}", None),
        Check(
            f"calls/s, --metrics-port on and scraped every {SCRAPE_EVERY_S:g} s",
            f"{median(on):.0f}",
            None,
        ),
        Check(
            "--metrics-port costs <= 3% of B6 throughput",
            f"{(1 - ratio) * 100:.1f}% (median of {ROUNDS} paired rounds)",
            ratio >= TARGET,
        ),
        Check(
            "one scrape of /metrics at the end of a round",
            f"{median(result['scrape_s']) * 1e3:.1f} ms, {median(result['scrape_bytes']) / 1e3:.0f} kB",
            None,
        ),
    )
    details = (
        f"{B6_AGENTS} independent agents, no latency at the server, at most {B6_CONCURRENCY} "
        "calls in flight, in one process: B6's engine workload.",
        f"Rounds alternate metrics off and on, {ROUNDS} each, after a warm-up of both; the "
        f"ratio is the median of the {ROUNDS} on/off pairs. Off: {runs(off, 'calls/s')}; on: "
        f"{runs(on, 'calls/s')}; scrapes per round on: {runs(result['scrapes'], 'scrapes')}.",
        "On: the metrics sink reads every event and `/metrics` is served on the run's event "
        f"loop, scraped over loopback HTTP every {SCRAPE_EVERY_S:g} s (a usual Prometheus interval) "
        "by a thread of the same process (Prometheus scrapes from another).",
        "Off: no metrics sink and no endpoint, as `agentflow run` without metrics flags (which "
        "does not even import prometheus_client).",
    )
    return Outcome(
        "metrics",
        "the cost of --metrics-port",
        "Calls per second of B6's workload with metrics off and with the endpoint on and "
        "scraped, same process, same server, alternating rounds.",
        checks,
        details,
        (_shown(command_line(argv), ctx),),
        time.perf_counter() - started,
    )


# -- the worker ------------------------------------------------------------------------------


class _Scraper(threading.Thread):
    """GETs /metrics every `every` seconds until stopped; counts the scrapes that answered."""

    def __init__(self, port: int, every: float) -> None:
        super().__init__(name="scraper", daemon=True)
        self.port, self.every = port, every
        self.stopped = threading.Event()
        self.scrapes = 0

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            with contextlib.suppress(OSError):  # a scrape that failed is not counted
                self.scrapes += bool(_scrape(self.port))


def _scrape(port: int) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        return connection.getresponse().read()
    finally:
        connection.close()


async def _round(
    client: Any, workflow: Any, log_dir: Path, run_id: str, concurrency: int, metrics_on: bool
) -> dict[str, Any]:
    from agentflow.events.bus import EventBus
    from agentflow.events.types import Sink
    from agentflow.run.clock import SystemClock
    from agentflow.run.engine import Engine, Instance, RunSettings
    from agentflow.sinks.jsonl import JsonlSink
    from agentflow.sinks.summary import CostSummary

    log_path = log_dir / f"{run_id}.jsonl"
    sinks: list[Sink] = [JsonlSink(log_path), CostSummary()]
    holder: dict[str, Engine] = {}
    export = None
    if metrics_on:
        from agentflow.metrics.export import MetricsExport
        from agentflow.sinks.metrics import MetricsSink

        sink = MetricsSink(statistics=lambda: holder["engine"].statistics())
        sinks.append(sink)
        export = MetricsExport(sink, port=0)
    bus = EventBus(run_id, time.time, sinks)
    clock = SystemClock()
    engine = holder["engine"] = Engine(
        client=client,
        clock=clock,
        bus=bus,
        settings=RunSettings(run_id=run_id, max_concurrency=concurrency, log_path=str(log_path)),
    )
    instances = [Instance(workflow, 0, {})]
    await engine.prepare(instances)
    out: dict[str, Any] = {}
    try:
        if export is None:
            began = time.perf_counter()
            result = await engine.run(instances)
            out["makespan_s"] = time.perf_counter() - began
        else:
            port = int(export.bind().rsplit(":", 1)[1].split("/")[0])
            scraper = _Scraper(port, SCRAPE_EVERY_S)
            async with export.running(clock):
                scraper.start()
                began = time.perf_counter()
                result = await engine.run(instances)
                out["makespan_s"] = time.perf_counter() - began
                scraper.stopped.set()
                await asyncio.to_thread(scraper.join)
                began = time.perf_counter()
                body = await asyncio.to_thread(_scrape, port)
                out["scrape_s"] = time.perf_counter() - began
                out["scrape_bytes"] = len(body)
            out["scrapes"] = scraper.scrapes
    finally:
        bus.close()
        if export is not None:
            export.close()
        await client.aclose()  # as B6's rounds do: the client is reused by the next round
    completed = sum(
        1 for i in result.instances for a in i.agents.values() if a.status == "completed"
    )
    if completed != len(workflow.agents):
        raise RuntimeError(f"the engine completed {completed} of {len(workflow.agents)} agents")
    return out


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    from agentflow.core import load_workflow
    from agentflow.llm.litellm_client import LiteLLMClient

    concurrency = int(args["concurrency"])
    client = LiteLLMClient(max_connections=max(concurrency, 16))
    workflow = load_workflow(args["yaml"])
    warmup = load_workflow(args["warmup_yaml"])
    log_dir = Path(args["log_dir"])
    count = len(workflow.agents)
    pid = os.getpid()
    for on in (False, True):
        asyncio.run(_round(client, warmup, log_dir, f"mwarm-{pid}-{on}", concurrency, on))
    out: dict[str, list[float]] = {
        "off_calls_per_s": [],
        "on_calls_per_s": [],
        "scrape_s": [],
        "scrape_bytes": [],
        "scrapes": [],
    }
    for index in range(int(args["rounds"])):
        # Which goes first alternates too, so drift in the machine's load favours neither.
        order = (False, True) if index % 2 == 0 else (True, False)
        for on in order:
            record = asyncio.run(
                _round(client, workflow, log_dir, f"m-{pid}-{index}-{on}", concurrency, on)
            )
            key = "on_calls_per_s" if on else "off_calls_per_s"
            out[key].append(count / record["makespan_s"])
            if on:
                out["scrape_s"].append(record["scrape_s"])
                out["scrape_bytes"].append(record["scrape_bytes"])
                out["scrapes"].append(record["scrapes"])
    return out


if __name__ == "__main__":
    print(json.dumps(_measure(json.loads(sys.argv[1]))), flush=True)

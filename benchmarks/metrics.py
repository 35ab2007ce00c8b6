"""What `--metrics-port` costs: B6's zero-latency throughput with metrics off and on.

    .venv/bin/python -m benchmarks metrics

One worker process (`python -m benchmarks.metrics ARGS`) runs the engine as `agentflow run`
wires it (JSONL log, cost summary), alternating rounds with metrics off and with the metrics
sink and the `/metrics` endpoint on, scraped over HTTP every 15 s (Prometheus's usual
interval; its default is 1 min) from another thread.

Throughput at zero latency is CPU-bound, so each round's CPU time per call (the process's
`process_time`, every thread included) is what is compared: wall-clock calls/s of one
round moves by +-15% with whatever else the machine runs, CPU per call by far less. A
round of B6 lasts about 10 s, shorter than the scrape interval, so one scrape's CPU time is
measured on its own and charged at one per 15 s of run. The metrics sink's own share is
also timed directly: a round's event log replayed through `MetricsSink.handle`.
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

ROUNDS = 9
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
    cpu_off, cpu_on = result["off_cpu_ms_per_call"], result["on_cpu_ms_per_call"]
    sink_share = median(
        [b / a - 1 for a, b in zip(cpu_off, cpu_on, strict=True)]
    )  # the sink and the idle endpoint, per call
    scrape_cpu = median(result["scrape_cpu_s"])
    scrape_share = scrape_cpu / SCRAPE_EVERY_S  # of the one core a saturated run uses
    cost = sink_share + scrape_share
    replay_us = median(result["replay_us_per_call"])
    checks = (
        Check("CPU per call, metrics off", f"{median(cpu_off):.3f} ms", None),
        Check("CPU per call, --metrics-port on", f"{median(cpu_on):.3f} ms", None),
        Check(
            f"one scrape of /metrics (CPU; charged once per {SCRAPE_EVERY_S:g} s of run)",
            f"{scrape_cpu * 1e3:.1f} ms = {scrape_share * 100:.2f}% of a core, "
            f"{median(result['scrape_bytes']) / 1e3:.0f} kB",
            None,
        ),
        Check(
            "--metrics-port costs <= 3% of B6 throughput",
            f"{cost * 100:.1f}% (CPU per call +{sink_share * 100:.1f}%, median of {ROUNDS} "
            f"paired rounds; scrapes +{scrape_share * 100:.2f}%)",
            cost <= 1 - TARGET,
        ),
        Check(
            "the metrics sink alone, per call (a round's events replayed)",
            f"{replay_us:.1f} us = {replay_us / 1e3 / median(cpu_off) * 100:.2f}% of a call's CPU",
            None,
        ),
        Check(
            "wall-clock calls/s, metrics off / on (medians)",
            f"{median(off):.0f} / {median(on):.0f}",
            None,
        ),
    )
    details = (
        f"{B6_AGENTS} independent agents, no latency at the server, at most {B6_CONCURRENCY} "
        "calls in flight, in one process: B6's engine workload.",
        f"Rounds alternate metrics off and on (which goes first alternating too), {ROUNDS} "
        "each, after a warm-up of both. At zero latency a round is CPU-bound, so the cost is "
        "the median over the pairs of the on round's CPU time per call (process time, every "
        "thread) against the off round's; wall-clock throughput moves with the machine's "
        f"other load and is shown for reference. CPU per call off: "
        f"{', '.join(f'{v:.3f}' for v in cpu_off)} ms; on: "
        f"{', '.join(f'{v:.3f}' for v in cpu_on)} ms. Wall clock off: {runs(off, 'calls/s')}; "
        f"on: {runs(on, 'calls/s')}.",
        "On: the metrics sink reads every event and `/metrics` is served on the run's event "
        f"loop, scraped over loopback HTTP every {SCRAPE_EVERY_S:g} s (a usual Prometheus "
        "interval) by a thread of the same process (Prometheus scrapes from another). A "
        f"round lasts less than {SCRAPE_EVERY_S:g} s (scrapes inside rounds: "
        f"{runs(result['scrapes'], 'scrapes')}), so one scrape at the end of each round is "
        "measured (process CPU time, the endpoint's side and the scraper's) and charged once "
        f"per {SCRAPE_EVERY_S:g} s of a run that keeps one core busy.",
        "The sink alone: the events of an off round's run log, read back and fed to a new "
        f"`MetricsSink.handle` ({runs(result['replay_events'], 'events')}), timed per call.",
        "Off: no metrics sink and no endpoint, as `agentflow run` without metrics flags (which "
        "does not even import prometheus_client).",
    )
    return Outcome(
        "metrics",
        "the cost of --metrics-port",
        "CPU per call of B6's workload with metrics off and with the endpoint on and "
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
            began, cpu = time.perf_counter(), time.process_time()
            result = await engine.run(instances)
            out["makespan_s"] = time.perf_counter() - began
            out["cpu_s"] = time.process_time() - cpu
        else:
            port = int(export.bind().rsplit(":", 1)[1].split("/")[0])
            scraper = _Scraper(port, SCRAPE_EVERY_S)
            async with export.running(clock):
                scraper.start()
                began, cpu = time.perf_counter(), time.process_time()
                result = await engine.run(instances)
                out["makespan_s"] = time.perf_counter() - began
                out["cpu_s"] = time.process_time() - cpu
                scraper.stopped.set()
                await asyncio.to_thread(scraper.join)
                cpu = time.process_time()
                body = await asyncio.to_thread(_scrape, port)
                out["scrape_cpu_s"] = time.process_time() - cpu
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
        "off_cpu_ms_per_call": [],
        "on_cpu_ms_per_call": [],
        "scrape_cpu_s": [],
        "scrape_bytes": [],
        "scrapes": [],
        "replay_us_per_call": [],
        "replay_events": [],
    }
    for index in range(int(args["rounds"])):
        # Which goes first alternates too, so drift in the machine's load favours neither.
        order = (False, True) if index % 2 == 0 else (True, False)
        for on in order:
            record = asyncio.run(
                _round(client, workflow, log_dir, f"m-{pid}-{index}-{on}", concurrency, on)
            )
            side = "on" if on else "off"
            out[f"{side}_calls_per_s"].append(count / record["makespan_s"])
            out[f"{side}_cpu_ms_per_call"].append(record["cpu_s"] * 1e3 / count)
            if not on:
                events, spent = _replay(log_dir / f"m-{pid}-{index}-{on}.jsonl")
                out["replay_us_per_call"].append(spent * 1e6 / count)
                out["replay_events"].append(events)
            if on:
                out["scrape_cpu_s"].append(record["scrape_cpu_s"])
                out["scrape_bytes"].append(record["scrape_bytes"])
                out["scrapes"].append(record["scrapes"])
    return out


def _replay(log_path: Path) -> tuple[int, float]:
    """Feed a run log's events to a new metrics sink: (events, seconds spent in handle())."""
    from agentflow.events.types import Event
    from agentflow.sinks.metrics import MetricsSink

    header = ("v", "seq", "ts", "run_id", "event", "workflow", "instance", "agent")
    events = []
    with log_path.open(encoding="utf-8") as log:
        for line in log:
            record = json.loads(line)
            data = {k: v for k, v in record.items() if k not in header}
            events.append(
                Event(
                    record["event"],
                    0.0,
                    record["run_id"],
                    record["seq"],
                    record.get("workflow"),
                    record.get("instance"),
                    record.get("agent"),
                    data,
                )
            )
    sink = MetricsSink()
    handle = sink.handle
    began = time.perf_counter()
    for event in events:
        handle(event)
    return len(events), time.perf_counter() - began


if __name__ == "__main__":
    print(json.dumps(_measure(json.loads(sys.argv[1]))), flush=True)

"""In-process measurements, each in a fresh process: `python -m benchmarks.worker TASK ARGS`.

TASK is one of `engine`, `bare-dag`, `throughput`; ARGS is a JSON object. The answer is one
JSON object on the last line of stdout. A fresh process per measurement keeps imports,
caches and peak RSS of one measurement out of the next.

- `engine`: load a workflow file and run it `runs` times with the real `Engine`,
  `LiteLLMClient`, JSONL log and cost summary (what `agentflow run` wires up); per run the
  makespan (around `Engine.run`) and the peak RSS so far (VmHWM).
- `bare-dag`: the same DAG with a minimal readiness scheduler, one `litellm.acompletion`
  per agent after awaiting its dependencies' events; the reference for B1.
- `throughput`: independent calls at a fixed concurrency, alternating bare
  `litellm.acompletion`, the same with the heap frozen as the engine freezes it, the
  engine, and the engine journaling every answer, on one event loop per round (B6, B11).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.procs import DUMMY_KEY
from benchmarks.workloads import MODEL, AgentSpec


def vm_kb(field: str) -> int:
    """A `VmXXX` line of /proc/self/status in kB (0 where /proc does not exist)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def _engine_run(
    client: Any,
    workflow: Any,
    log_dir: Path,
    run_id: str,
    max_concurrency: int,
    state: Path | None = None,
) -> dict[str, Any]:
    from agentflow.events.bus import EventBus
    from agentflow.run.clock import SystemClock
    from agentflow.run.engine import Engine, Instance, RunSettings
    from agentflow.sinks.jsonl import JsonlSink
    from agentflow.sinks.summary import CostSummary
    from agentflow.state.journal import RunJournal
    from agentflow.state.store import StateStore

    log_path = log_dir / f"{run_id}.jsonl"
    bus = EventBus(run_id, time.time, [JsonlSink(log_path), CostSummary()])
    store = StateStore.open(state) if state is not None else None
    engine = Engine(
        journal=RunJournal(store, run_id=run_id) if store is not None else None,
        client=client,
        clock=SystemClock(),
        bus=bus,
        settings=RunSettings(
            run_id=run_id, max_concurrency=max_concurrency, log_path=str(log_path)
        ),
    )
    instances = [Instance(workflow, 0, {})]
    await engine.prepare(instances)  # as `agentflow run` does before the run starts
    t0 = time.monotonic()
    started = time.perf_counter()
    try:
        result = await engine.run(instances)
        makespan = time.perf_counter() - started
    finally:
        bus.close()
        if store is not None:
            store.close()
        await client.aclose()
    completed = sum(
        1 for i in result.instances for a in i.agents.values() if a.status == "completed"
    )
    return {"makespan_s": makespan, "t0": t0, "status": result.status, "completed": completed}


def task_engine(args: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    from agentflow.core import load_workflow
    from agentflow.llm.litellm_client import LiteLLMClient

    max_concurrency = int(args.get("max_concurrency", 512))
    client = LiteLLMClient(max_connections=max(max_concurrency, 16))
    import_s = time.perf_counter() - started
    out: dict[str, Any] = {
        "import_s": import_s,
        "rss_post_import_kb": vm_kb("VmRSS"),
        "hwm_post_import_kb": vm_kb("VmHWM"),
    }
    started = time.perf_counter()
    workflow = load_workflow(args["yaml"])
    out["load_s"] = time.perf_counter() - started
    log_dir = Path(args["log_dir"])
    runs = []
    for index in range(int(args.get("runs", 1))):
        run_id = f"bench-{os.getpid()}-{index}"
        record = asyncio.run(_engine_run(client, workflow, log_dir, run_id, max_concurrency))
        record["hwm_kb"] = vm_kb("VmHWM")
        record["rss_kb"] = vm_kb("VmRSS")
        runs.append(record)
    out["runs"] = runs
    return out


def _import_litellm() -> Any:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _bare_call(litellm: Any, api_base: str, prompt: str) -> Callable[[], Awaitable[Any]]:
    def call() -> Awaitable[Any]:
        result: Awaitable[Any] = litellm.acompletion(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            api_base=api_base,
            api_key=DUMMY_KEY,
            max_tokens=64,
            timeout=30,
            num_retries=0,
        )
        return result

    return call


async def _bare_dag(litellm: Any, agents: list[AgentSpec], api_base: str) -> dict[str, float]:
    done = {agent.id: asyncio.Event() for agent in agents}

    async def one(agent: AgentSpec) -> None:
        for dep in agent.deps:
            await done[dep].wait()
        await _bare_call(litellm, api_base, agent.prompt)()
        done[agent.id].set()

    # The same one-time set-up the engine gets from `Engine.prepare`: one mock call.
    import openai.resources  # noqa: F401

    await litellm.acompletion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "warm up"}],
        api_base=api_base,
        mock_response="ok",
    )
    t0 = time.monotonic()
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for agent in agents:
            group.create_task(one(agent))
    return {"makespan_s": time.perf_counter() - started, "t0": t0}


def task_bare_dag(args: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    litellm = _import_litellm()
    import_s = time.perf_counter() - started
    agents = [AgentSpec.from_json(a) for a in json.loads(Path(args["spec"]).read_text())]
    runs = []
    for _ in range(int(args.get("runs", 1))):
        record = asyncio.run(_bare_dag(litellm, agents, args["api_base"]))
        record["hwm_kb"] = vm_kb("VmHWM")  # peak RSS so far, as for the engine
        runs.append(record)
    return {"import_s": import_s, "runs": runs}


async def _bare_many(litellm: Any, count: int, concurrency: int, api_base: str) -> float:
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with slots:
            await _bare_call(litellm, api_base, f"Agent a{index:05d}: one sentence.")()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for index in range(count):
            group.create_task(one(index))
    return time.perf_counter() - started


def task_throughput(args: dict[str, Any]) -> dict[str, Any]:
    from agentflow.core import load_workflow
    from agentflow.llm.litellm_client import LiteLLMClient
    from agentflow.run.heap import frozen_heap

    litellm = _import_litellm()
    concurrency = int(args["concurrency"])
    client = LiteLLMClient(max_connections=max(concurrency, 16))
    workflow = load_workflow(args["yaml"])
    warmup = load_workflow(args["warmup_yaml"])
    count = len(workflow.agents)
    api_base = args["api_base"]
    log_dir = Path(args["log_dir"])
    # Warm both paths (first-call imports, tokenizer, connection pools) before timing.
    asyncio.run(_bare_many(litellm, 50, concurrency, api_base))
    asyncio.run(_engine_run(client, warmup, log_dir, f"bench-warm-{os.getpid()}", concurrency))
    bare: list[float] = []
    bare_frozen: list[float] = []
    engine: list[float] = []
    journaled: list[float] = []
    state = log_dir / "state.db"
    for index in range(int(args["rounds"])):
        bare.append(count / asyncio.run(_bare_many(litellm, count, concurrency, api_base)))
        # The engine freezes the heap it starts with (agentflow.run.heap); the same for the
        # bare scheduler shows how much of the difference that alone makes.
        with frozen_heap():
            seconds = asyncio.run(_bare_many(litellm, count, concurrency, api_base))
        bare_frozen.append(count / seconds)
        run_id = f"bench-tp-{os.getpid()}-{index}"
        record = asyncio.run(_engine_run(client, workflow, log_dir, run_id, concurrency))
        if record["completed"] != count:
            raise RuntimeError(f"engine completed {record['completed']} of {count} agents")
        engine.append(count / record["makespan_s"])
        # The same with every answer committed to the journal, as `agentflow run` does.
        record = asyncio.run(
            _engine_run(client, workflow, log_dir, run_id + "-journal", concurrency, state)
        )
        if record["completed"] != count:
            raise RuntimeError(f"engine completed {record['completed']} of {count} agents")
        journaled.append(count / record["makespan_s"])
    return {
        "engine_journal_calls_per_s": journaled,
        "calls": count,
        "bare_calls_per_s": bare,
        "bare_frozen_calls_per_s": bare_frozen,
        "engine_calls_per_s": engine,
    }


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "engine": task_engine,
    "bare-dag": task_bare_dag,
    "throughput": task_throughput,
}


def main(argv: list[str]) -> int:
    task, args = argv[0], json.loads(argv[1])
    print(json.dumps(TASKS[task](args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What one call costs through LiteLLM, and what that does at scale (B8, B9, B12).

    outcome = b8(Context(Path(tmp)))      # calls per core; 500/2,000/5,000 agents at 1 s;
                                           # 1,000 instances x 10 agents at 0.5 s
    outcome = b9(ctx)                      # 500-agent DAG peak RSS against a bare script
    outcome = b12(ctx)                     # plan time per agent up to 100,000 agents

Every comparison with bare `litellm.acompletion` is made in the same suite run, against
the same fake server, in fresh processes (or alternating rounds in one process for
throughput); medians are reported.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from benchmarks.procs import AGENTFLOW, PYTHON, ROOT, command_line, run, worker
from benchmarks.report import Check, Outcome, median, runs, seconds
from benchmarks.server import FakeServer
from benchmarks.workloads import (
    AgentSpec,
    critical_path_ms,
    independent_agents,
    layered_dag,
    workflow_yaml,
)

if TYPE_CHECKING:
    from benchmarks.suite import Context

_PORT = re.compile(r"http://127\.0\.0\.1:\d+")


def _shown(text: str, ctx: Context) -> str:
    text = text.replace(str(ctx.tmp), "$TMP").replace(str(ROOT) + "/", "")
    return _PORT.sub("http://127.0.0.1:$PORT", text)


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("inf")


# --------------------------------------------------------------------------------------- B8

B8_THROUGHPUT_AGENTS = 2000
B8_IN_FLIGHT = 256
B8_ROUNDS = 3
B8_LATENCY_MS = 1000
B8_SIZES = (500, 2000, 5000)
B8_TARGET_SIZE = 2000
B8_INSTANCES = 1000
B8_INSTANCE_LATENCY_MS = 500


def _instance_agents() -> list[AgentSpec]:
    """10 agents, 4 deep (1 -> 3 -> 3 -> 3), each waiting for 1-2 agents above."""
    lat = B8_INSTANCE_LATENCY_MS
    agents = [AgentSpec("intake", (), lat)]
    agents += [AgentSpec(f"check_{i}", ("intake",), lat) for i in range(3)]
    agents += [
        AgentSpec(f"assess_{i}", tuple(sorted({f"check_{i}", f"check_{(i + 1) % 3}"})), lat)
        for i in range(3)
    ]
    agents += [AgentSpec(f"report_{i}", (f"assess_{i}",), lat) for i in range(3)]
    return agents


def _throughput(ctx: Context, server: FakeServer) -> tuple[dict[str, Any], str]:
    yaml = ctx.write(
        "b8_tp.yaml",
        workflow_yaml(
            "b8_throughput",
            independent_agents(B8_THROUGHPUT_AGENTS),
            api_base=server.base_url,
        ),
    )
    warm = ctx.write(
        "b8_warm.yaml", workflow_yaml("b8_warm", independent_agents(50), api_base=server.base_url)
    )
    args = {
        "yaml": str(yaml),
        "warmup_yaml": str(warm),
        "api_base": server.base_url,
        "concurrency": B8_IN_FLIGHT,
        "rounds": B8_ROUNDS,
        "log_dir": str(ctx.log_dir("b8")),
    }
    server.reset()
    result = worker("throughput", args)
    return result, command_line([PYTHON, "-m", "benchmarks.worker", "throughput", json.dumps(args)])


def _wide(
    ctx: Context, server: FakeServer, count: int, repeats: int
) -> tuple[list[float], list[float], list[str]]:
    """Engine and bare makespans of `count` independent agents at B8_LATENCY_MS each."""
    agents = independent_agents(count, latency_ms=B8_LATENCY_MS)
    yaml = ctx.write(
        f"b8_{count}.yaml", workflow_yaml(f"b8_{count}", agents, api_base=server.base_url)
    )
    spec = ctx.write(f"b8_{count}.json", json.dumps([a.to_json() for a in agents]))
    engine_args = {
        "yaml": str(yaml),
        "runs": 1,
        "log_dir": str(ctx.log_dir("b8")),
        "max_concurrency": count,
    }
    bare_args = {"spec": str(spec), "api_base": server.base_url, "runs": 1}
    engine: list[float] = []
    bare: list[float] = []
    for _ in range(repeats):
        server.reset()
        result = worker("engine", engine_args)
        if result["runs"][0]["completed"] != count:
            raise RuntimeError(f"B8 engine completed {result['runs'][0]['completed']} of {count}")
        engine.append(result["runs"][0]["makespan_s"])
        server.reset()
        bare.append(worker("bare-dag", bare_args)["runs"][0]["makespan_s"])
    commands = [
        command_line([PYTHON, "-m", "benchmarks.worker", "engine", json.dumps(engine_args)]),
        command_line([PYTHON, "-m", "benchmarks.worker", "bare-dag", json.dumps(bare_args)]),
    ]
    return engine, bare, commands


def _instances(ctx: Context, server: FakeServer) -> tuple[float, float, str]:
    agents = _instance_agents()
    ideal = critical_path_ms(agents) / 1000.0
    yaml = ctx.write(
        "b8_instances.yaml",
        workflow_yaml(
            "b8_instances",
            agents,
            api_base=server.base_url,
            inputs={"customer": {"type": "string"}},
            prompt_suffix=" Customer: {{ inputs.customer }}.",
        ),
    )
    inputs = ctx.write(
        "b8_inputs.jsonl",
        "".join(json.dumps({"customer": f"C-{i:05d}"}) + "\n" for i in range(B8_INSTANCES)),
    )
    argv = [
        AGENTFLOW,
        "run",
        str(yaml),
        "--no-progress",
        "--format",
        "json",
        "--log-dir",
        str(ctx.log_dir("b8_instances")),
        "--inputs",
        str(inputs),
        "--max-workflows",
        str(B8_INSTANCES),
        "--max-concurrency",
        str(B8_INSTANCES * 3),
    ]
    server.reset()
    done = run(argv, timeout=900.0)
    try:
        document = done.json()
    except json.JSONDecodeError:
        raise RuntimeError(
            f"B8 instances: no JSON (exit {done.returncode}):\n{done.stderr[-2000:]}"
        ) from None
    completed = document["totals"]["agents"]["completed"]
    if completed != len(agents) * B8_INSTANCES:
        raise RuntimeError(f"B8 instances: {completed} agents completed")
    return float(document["duration_s"]), ideal, command_line(argv)


def b8(ctx: Context) -> Outcome:
    started = time.perf_counter()
    commands: list[str] = []
    wide: dict[int, tuple[list[float], list[float]]] = {}
    with FakeServer() as server:
        result, command = _throughput(ctx, server)
        commands.append(command)
        for count in B8_SIZES:
            engine, bare, shown = _wide(ctx, server, count, 3 if count == B8_TARGET_SIZE else 1)
            wide[count] = (engine, bare)
            if count == B8_TARGET_SIZE:
                commands.extend(shown)
        instances_s, instances_ideal, command = _instances(ctx, server)
        commands.append(command)
    engine_tp = median(result["engine_calls_per_s"])
    bare_tp = median(result["bare_calls_per_s"])
    critical = B8_LATENCY_MS / 1000.0
    target_engine = median(wide[B8_TARGET_SIZE][0])
    checks = [
        Check(
            f"zero latency, {B8_THROUGHPUT_AGENTS} agents, {B8_IN_FLIGHT} in flight: "
            "engine >= 1.5 x bare `litellm.acompletion`",
            f"{_ratio(engine_tp, bare_tp):.2f} x ({engine_tp:.0f} vs {bare_tp:.0f} calls/s)",
            _ratio(engine_tp, bare_tp) >= 1.5,
        ),
        Check(
            f"{B8_TARGET_SIZE} agents at {critical:g} s: makespan <= 3.5 x critical path",
            f"{_ratio(target_engine, critical):.2f} x ({seconds(target_engine)})",
            _ratio(target_engine, critical) <= 3.5,
        ),
    ]
    for count in B8_SIZES:
        engine, bare = wide[count]
        checks.append(
            Check(
                f"{count} agents at {critical:g} s: engine / bare makespan",
                f"{_ratio(median(engine), critical):.2f} x CP engine, "
                f"{_ratio(median(bare), critical):.2f} x CP bare",
                None,
            )
        )
    checks.append(
        Check(
            f"{B8_INSTANCES} instances x 10 agents at {B8_INSTANCE_LATENCY_MS} ms: makespan / ideal",
            f"{_ratio(instances_s, instances_ideal):.2f} x ({seconds(instances_s)} vs "
            f"{seconds(instances_ideal)})",
            None,
        )
    )
    details = (
        f"Throughput: {B8_THROUGHPUT_AGENTS} independent agents against a zero-latency server, "
        f"at most {B8_IN_FLIGHT} in flight, rounds alternating bare and engine in one process "
        f"({B8_ROUNDS} each, medians): engine {runs(result['engine_calls_per_s'], 'calls/s')}; "
        f"bare {runs(result['bare_calls_per_s'], 'calls/s')}; bare with a frozen heap "
        f"{runs(result['bare_frozen_calls_per_s'], 'calls/s')}.",
        f"Latency: N independent agents, each answered after {B8_LATENCY_MS} ms, all in flight "
        "at once (engine `max_concurrency=N`, bare: one task per agent), fresh processes: "
        + "; ".join(
            f"{count}: engine {runs(wide[count][0])}, bare {runs(wide[count][1])}"
            for count in B8_SIZES
        )
        + f". Critical path {seconds(critical)}; {B8_TARGET_SIZE} agents 3 repeats, the others 1.",
        f"Instances: `agentflow run --inputs` with {B8_INSTANCES} JSONL rows, all admitted at "
        f"once, 10 agents 4 deep at {B8_INSTANCE_LATENCY_MS} ms: `duration_s` "
        f"{seconds(instances_s)}, ideal {seconds(instances_ideal)}.",
        "All of it is CPU-bound in one process: docs/profiles.md shows where a call's CPU goes.",
    )
    return Outcome(
        "B8",
        "calls per core through LiteLLM",
        "The engine with `LiteLLMClient` against bare `litellm.acompletion`, same server, "
        "same suite run.",
        tuple(checks),
        details,
        tuple(_shown(c, ctx) for c in commands),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- B9

B9_SEED = 20240601


def b9(ctx: Context) -> Outcome:
    started = time.perf_counter()
    agents = layered_dag(levels=10, width=50, seed=B9_SEED, latency_ms=(200, 800))
    engine: list[float] = []
    bare: list[float] = []
    mb = 1024.0
    with FakeServer() as server:
        yaml = ctx.write("b9.yaml", workflow_yaml("b9_dag", agents, api_base=server.base_url))
        spec = ctx.write("b9.json", json.dumps([a.to_json() for a in agents]))
        engine_args = {"yaml": str(yaml), "runs": 1, "log_dir": str(ctx.log_dir("b9"))}
        bare_args = {"spec": str(spec), "api_base": server.base_url, "runs": 1}
        for _ in range(3):
            server.reset()
            engine.append(worker("engine", engine_args)["runs"][0]["hwm_kb"] / mb)
            server.reset()
            bare.append(worker("bare-dag", bare_args)["runs"][0]["hwm_kb"] / mb)
    over = median(engine) - median(bare)
    checks = (
        Check(
            "500-agent DAG peak RSS <= hand-written asyncio script + 40 MB",
            f"+{over:.1f} MB ({median(engine):.1f} vs {median(bare):.1f} MB)",
            over <= 40.0,
        ),
    )
    details = (
        f"B1's DAG (10 levels x 50 agents, seed {B9_SEED}), one run per fresh process; peak "
        "RSS is VmHWM after the run. Engine: the real `Engine`, `LiteLLMClient`, JSONL log and "
        "cost summary, as `agentflow run` wires them. Bare: a readiness scheduler awaiting "
        "`asyncio.Event`s, one `litellm.acompletion` per agent.",
        f"Engine {', '.join(f'{v:.1f}' for v in engine)} MB; bare "
        f"{', '.join(f'{v:.1f}' for v in bare)} MB; medians of 3, alternating.",
    )
    commands = (
        command_line([PYTHON, "-m", "benchmarks.worker", "engine", json.dumps(engine_args)]),
        command_line([PYTHON, "-m", "benchmarks.worker", "bare-dag", json.dumps(bare_args)]),
    )
    return Outcome(
        "B9",
        "memory against a hand-written script",
        "Peak RSS of a 500-agent run, engine against the bare asyncio + LiteLLM script.",
        checks,
        details,
        tuple(_shown(c, ctx) for c in commands),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- B12

B12_SIZES = (12_500, 25_000, 50_000, 100_000)
B12_TARGET = 50_000
B12_LINEAR = 1.15  # per-agent time at the largest size against the smallest


def compact_chain_yaml(count: int) -> str:
    """`count` agents in 100 chains; every other one reads its predecessor in its prompt.

    Flow style and short ids keep 100,000 agents under the 5 MiB file limit.
    """
    lines = ["version: 1", "name: b12", "defaults: {model: openai/gpt-4o-mini, max_tokens: 64}"]
    lines.append("agents:")
    for index in range(count):
        previous = index - 100
        if previous < 0:
            lines.append(f'  a{index}: {{prompt: "Start {index}."}}')
        elif index % 2:
            lines.append(f'  a{index}: {{prompt: "Go {{{{ agents.a{previous}.output }}}}"}}')
        else:
            lines.append(f'  a{index}: {{prompt: "Next {index}.", needs: [a{previous}]}}')
    return "\n".join(lines) + "\n"


def _plan_once(argv: list[str]) -> tuple[float, float]:
    done = run(argv, timeout=900.0)
    if done.returncode != 0:
        raise RuntimeError(f"{command_line(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.wall_s, done.cpu_s


def b12(ctx: Context) -> Outcome:
    started = time.perf_counter()
    walls: dict[int, list[float]] = {}
    cpus: dict[int, list[float]] = {}
    commands: list[str] = []
    # A 1-agent plan: the process start-up every size pays once, taken off each.
    base_path = ctx.write("b12_1.yaml", compact_chain_yaml(1))
    base = [_plan_once([AGENTFLOW, "plan", str(base_path), "--format", "json"]) for _ in range(3)]
    base_wall, base_cpu = median([b[0] for b in base]), median([b[1] for b in base])
    for count in B12_SIZES:
        path = ctx.write(f"b12_{count}.yaml", compact_chain_yaml(count))
        argv = [AGENTFLOW, "plan", str(path), "--format", "json"]
        measured = [_plan_once(argv) for _ in range(3 if count == B12_TARGET else 1)]
        walls[count] = [m[0] for m in measured]
        cpus[count] = [m[1] for m in measured]
        commands.append(command_line(argv))
    # CPU time (user + system) per agent: what the plan costs, steady however loaded the
    # machine is, where wall time on a shared machine is not.
    per_agent = {count: (median(v) - base_cpu) / count * 1e6 for count, v in cpus.items()}
    smallest, largest = B12_SIZES[0], B12_SIZES[-1]
    growth = _ratio(per_agent[largest], per_agent[smallest])
    target_wall = median(walls[B12_TARGET])
    checks = (
        Check(
            f"{B12_TARGET:,}-agent plan <= 5 s",
            f"{seconds(target_wall)} wall ({seconds(median(cpus[B12_TARGET]))} CPU)",
            target_wall <= 5.0,
        ),
        Check(
            f"linear to {largest:,} agents: CPU per agent at {largest:,} <= "
            f"{B12_LINEAR} x at {smallest:,}",
            f"{growth:.2f} x ({per_agent[largest]:.0f} vs {per_agent[smallest]:.0f} us/agent)",
            growth <= B12_LINEAR,
        ),
    )
    details = (
        "`agentflow plan FILE --format json`, whole process (start-up included, output to a "
        "pipe); files of 100 chains, every other agent reading its predecessor through "
        "`{{ agents.X.output }}`, the others through `needs`.",
        "; ".join(
            f"{count:,} agents: wall {runs(walls[count])}, CPU {runs(cpus[count])} "
            f"({per_agent[count]:.0f} us/agent)"
            for count in B12_SIZES
        )
        + f"; {B12_TARGET:,} agents 3 runs (median), the others 1. CPU per agent is after "
        f"taking off a 1-agent plan's {seconds(base_cpu)} CPU ({seconds(base_wall)} wall: "
        "start-up, imports).",
    )
    return Outcome(
        "B12",
        "plan time per agent up to 100,000 agents",
        "The CLI's plan in fresh processes at four sizes.",
        checks,
        details,
        tuple(_shown(c, ctx) for c in commands),
        time.perf_counter() - started,
    )

"""One function per benchmark: set up the workload and server, measure, judge the targets.

    outcome = BENCHMARKS["B1"](Context(Path(tmp)))

`Context` carries the scratch folder and measurements one benchmark shares with another
(B2 reads the peak memory of B1's engine processes when both run).
"""

from __future__ import annotations

import bisect
import importlib.util
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.adaptive import adaptive
from benchmarks.durable import history, kill_resume
from benchmarks.metrics import metrics
from benchmarks.percall import b8, b9, b12
from benchmarks.pressure import chain_wide, deadlines
from benchmarks.procs import AGENTFLOW, PYTHON, ROOT, Completed, command_line, run, worker
from benchmarks.redis import shared_budget, shared_limits
from benchmarks.report import Check, Outcome, median, runs, seconds
from benchmarks.reports import report_bench
from benchmarks.server import FakeServer
from benchmarks.signals import sweep
from benchmarks.standing import standing
from benchmarks.workers import workers
from benchmarks.workloads import (
    AgentSpec,
    critical_path_ms,
    independent_agents,
    layered_dag,
    workflow_yaml,
)

REPEATS = 3


@dataclass
class Context:
    """Scratch space of one suite run, and measurements shared between benchmarks."""

    tmp: Path
    shared: dict[str, Any] = field(default_factory=dict)

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def log_dir(self, name: str) -> Path:
        path = self.tmp / "logs" / name
        path.mkdir(parents=True, exist_ok=True)
        return path


_PORT = re.compile(r"http://127\.0\.0\.1:\d+")


def _shown(text: str, ctx: Context) -> str:
    """A command line as printed in the report: scratch folder and server port by name."""
    text = text.replace(str(ctx.tmp), "$TMP").replace(str(ROOT) + "/", "")
    return _PORT.sub("http://127.0.0.1:$PORT", text)


def _run_cli(args: Sequence[str | Path], *, timeout: float = 600.0) -> Completed:
    return run([AGENTFLOW, *map(str, args)], timeout=timeout)


def _agentflow_run(
    workflow: Path, log_dir: Path, *extra: str, timeout: float = 600.0
) -> tuple[Completed, dict[str, Any], str]:
    argv = [
        "run",
        str(workflow),
        "--no-progress",
        "--format",
        "json",
        "--log-dir",
        str(log_dir),
        *extra,
    ]
    done = _run_cli(argv, timeout=timeout)
    try:
        document = done.json()
    except json.JSONDecodeError:
        raise RuntimeError(
            f"agentflow run gave no JSON (exit {done.returncode}):\n{done.stderr[-3000:]}"
        ) from None
    return done, document, command_line([AGENTFLOW, *argv])


def _log_events(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as log:
        return [json.loads(line) for line in log if line.strip()]


def _event_time(event: dict[str, Any]) -> float:
    """An event's `ts` (ISO-8601 UTC) as epoch seconds."""
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00")).timestamp()


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("inf")


# --------------------------------------------------------------------------------------- B1


B1_SEED = 20240601


def b1(ctx: Context) -> Outcome:
    started = time.perf_counter()
    agents = layered_dag(levels=10, width=50, seed=B1_SEED, latency_ms=(200, 800))
    critical = critical_path_ms(agents) / 1000.0
    engine: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    lead: dict[str, list[float]] = {"engine": [], "bare": []}
    with FakeServer() as server:
        yaml = ctx.write("b1.yaml", workflow_yaml("b1_dag", agents, api_base=server.base_url))
        spec = ctx.write("b1.json", json.dumps([a.to_json() for a in agents]))
        engine_args = {"yaml": str(yaml), "runs": 2, "log_dir": str(ctx.log_dir("b1"))}
        bare_args = {"spec": str(spec), "api_base": server.base_url, "runs": 2}
        for _ in range(REPEATS):
            for name, task, args, into in (
                ("engine", "engine", engine_args, engine),
                ("bare", "bare-dag", bare_args, bare),
            ):
                server.reset()
                result = worker(task, args)
                served = sorted(server.requests(), key=lambda r: r.started)
                if len(served) != 2 * len(agents) or any(r.status != 200 for r in served):
                    raise RuntimeError(f"B1 {name}: the server saw {server.stats()}")
                lead[name].append(served[0].started - result["runs"][0]["t0"])
                into.append(result)
    ctx.shared["b1_engine"] = engine

    def makespans(results: list[dict[str, Any]], index: int) -> list[float]:
        return [r["runs"][index]["makespan_s"] for r in results]

    e_cold, e_warm = makespans(engine, 0), makespans(engine, 1)
    b_cold, b_warm = makespans(bare, 0), makespans(bare, 1)
    checks = (
        Check(
            "makespan <= 1.15 x critical path (fresh process)",
            f"{_ratio(median(e_cold), critical):.3f} x ({seconds(median(e_cold))} vs "
            f"{seconds(critical)})",
            _ratio(median(e_cold), critical) <= 1.15,
        ),
        Check(
            "makespan <= 1.10 x bare asyncio + litellm (fresh process)",
            f"{_ratio(median(e_cold), median(b_cold)):.3f} x ({seconds(median(e_cold))} vs "
            f"{seconds(median(b_cold))})",
            _ratio(median(e_cold), median(b_cold)) <= 1.10,
        ),
        Check(
            "makespan <= 1.15 x critical path (second run, warm)",
            f"{_ratio(median(e_warm), critical):.3f} x ({seconds(median(e_warm))})",
            _ratio(median(e_warm), critical) <= 1.15,
        ),
        Check(
            "makespan <= 1.10 x bare (second run, warm)",
            f"{_ratio(median(e_warm), median(b_warm)):.3f} x ({seconds(median(e_warm))} vs "
            f"{seconds(median(b_warm))})",
            _ratio(median(e_warm), median(b_warm)) <= 1.10,
        ),
    )
    details = (
        f"DAG: 10 levels x 50 agents, each needing 1-3 random agents of the level above "
        f"(seed {B1_SEED}); per-agent latency uniform 200-800 ms set by a `[[latency_ms=N]]` "
        f"marker in its prompt; {sum(len(a.deps) for a in agents)} edges.",
        f"Latency-weighted critical path: {seconds(critical)}.",
        f"Engine, first run in a fresh process: {runs(e_cold)} (median {seconds(median(e_cold))}); "
        f"second run in the same process: {runs(e_warm)}.",
        f"Bare asyncio + `litellm.acompletion`, first run: {runs(b_cold)}; second run: "
        f"{runs(b_warm)}.",
        "Time from the start of the first run to the first request reaching the server "
        f"(first-call work before any HTTP): engine {runs(lead['engine'])}, bare "
        f"{runs(lead['bare'])}.",
        f"Repeats: {REPEATS} fresh processes each for the engine and the bare scheduler, "
        "interleaved; medians reported. Makespan is wall time around `Engine.run()` (around "
        "the TaskGroup for the bare scheduler), after `import`, client construction and "
        "loading the workflow file.",
        "The first run of a process is what `agentflow run` does; the second shows the "
        "engine once LiteLLM's lazy imports and the connection pool are warm.",
    )
    commands = (
        command_line([PYTHON, "-m", "benchmarks.worker", "engine", json.dumps(engine_args)]),
        command_line([PYTHON, "-m", "benchmarks.worker", "bare-dag", json.dumps(bare_args)]),
    )
    return Outcome(
        "B1",
        "500-agent layered DAG, makespan",
        "The real `Engine` with `LiteLLMClient`, a JSONL run log and the cost summary (as "
        "`agentflow run` wires them), running a generated YAML file loaded with "
        "`agentflow.core.load_workflow`, against a minimal readiness scheduler over the same "
        "DAG and server in the same suite run.",
        checks,
        details,
        tuple(_shown(c, ctx) for c in commands),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- B2


def b2(ctx: Context) -> Outcome:
    started = time.perf_counter()
    commands: list[str] = []
    one = [AgentSpec("only", (), 400)]
    big = layered_dag(levels=10, width=50, seed=B1_SEED, latency_ms=(200, 800))
    small_runs: list[dict[str, Any]] = []
    big_runs: list[dict[str, Any]] = list(ctx.shared.get("b1_engine", []))
    with FakeServer() as server:
        small = ctx.write("b2_one.yaml", workflow_yaml("b2_one", one, api_base=server.base_url))
        args = {"yaml": str(small), "runs": 1, "log_dir": str(ctx.log_dir("b2"))}
        commands.append(
            command_line([PYTHON, "-m", "benchmarks.worker", "engine", json.dumps(args)])
        )
        for _ in range(REPEATS):
            server.reset()
            small_runs.append(worker("engine", args))
        if not big_runs:
            path = ctx.write("b1.yaml", workflow_yaml("b1_dag", big, api_base=server.base_url))
            big_args = {"yaml": str(path), "runs": 1, "log_dir": str(ctx.log_dir("b2"))}
            commands.append(
                command_line([PYTHON, "-m", "benchmarks.worker", "engine", json.dumps(big_args)])
            )
            for _ in range(REPEATS):
                server.reset()
                big_runs.append(worker("engine", big_args))
        else:
            commands.append("(the 500-agent processes are B1's engine processes)")
    mb = 1024.0
    base_hwm = median([r["runs"][0]["hwm_kb"] for r in small_runs]) / mb
    base_import = median([r["rss_post_import_kb"] for r in small_runs]) / mb
    big_hwm = median([r["runs"][0]["hwm_kb"] for r in big_runs]) / mb
    big_import = median([r["rss_post_import_kb"] for r in big_runs]) / mb
    over = big_hwm - base_hwm
    checks = (
        Check(
            "peak RSS of the 500-agent run <= 50 MB over the 1-agent run",
            f"+{over:.1f} MB ({big_hwm:.1f} vs {base_hwm:.1f} MB)",
            over <= 50.0,
        ),
        Check(
            "peak RSS of the 500-agent run over RSS right after import",
            f"+{big_hwm - big_import:.1f} MB ({big_hwm:.1f} vs {big_import:.1f} MB)",
            None,
        ),
    )
    details = (
        "Each number is VmHWM (peak resident set) from /proc/self/status of a fresh process "
        "that imports agentflow and LiteLLM (by constructing `LiteLLMClient`), loads the "
        "workflow file and runs it once with the engine, JSONL log and cost summary; read "
        "right after `Engine.run()` returns.",
        f"1-agent run: peak {base_hwm:.1f} MB; RSS after import {base_import:.1f} MB "
        f"(so loading and running one agent adds {base_hwm - base_import:.1f} MB: ruamel.yaml, "
        "networkx and the engine, and first-call imports inside LiteLLM, its HTTP handler and "
        "the OpenAI SDK).",
        f"500-agent run (B1's DAG): peak {big_hwm:.1f} MB; RSS after import {big_import:.1f} MB.",
        "The target compares the two peaks, so it measures what 500 agents cost beyond any run "
        "(workflow, events, tasks, in-flight requests); the second row is the stricter view "
        "from the post-import RSS.",
        f"Repeats: {REPEATS} processes each; medians.",
    )
    return Outcome(
        "B2",
        "memory of the 500-agent run",
        "Peak RSS of a fresh process running B1's 500-agent DAG, against the same measured "
        "for a 1-agent workflow.",
        checks,
        details,
        tuple(_shown(c, ctx) for c in commands),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- B3


B3_LATENCY_MS = 2500
B3_INSTANCES = 100


def _instance_agents() -> list[AgentSpec]:
    """10 agents, 4 deep: one root, then three levels of three, each needing 1-2 above."""
    lat = B3_LATENCY_MS
    agents = [AgentSpec("intake", (), lat)]
    agents += [AgentSpec(f"check_{i}", ("intake",), lat) for i in range(3)]
    agents += [
        AgentSpec(f"assess_{i}", tuple(sorted({f"check_{i}", f"check_{(i + 1) % 3}"})), lat)
        for i in range(3)
    ]
    agents += [AgentSpec(f"report_{i}", (f"assess_{i}",), lat) for i in range(3)]
    return agents


def b3(ctx: Context) -> Outcome:
    started = time.perf_counter()
    agents = _instance_agents()
    ideal = critical_path_ms(agents) / 1000.0
    durations: list[float] = []
    walls: list[float] = []
    cpus: list[float] = []
    problems: list[str] = []
    command = ""
    log_path = ""
    inputs = ctx.write(
        "b3_inputs.jsonl",
        "".join(json.dumps({"customer": f"C-{i:04d}"}) + "\n" for i in range(B3_INSTANCES)),
    )
    with FakeServer() as server:
        yaml = ctx.write(
            "b3.yaml",
            workflow_yaml(
                "b3_instances",
                agents,
                api_base=server.base_url,
                inputs={"customer": {"type": "string"}},
                prompt_suffix=" Customer: {{ inputs.customer }}.",
            ),
        )
        for _ in range(REPEATS):
            server.reset()
            done, doc, command = _agentflow_run(
                yaml,
                ctx.log_dir("b3"),
                "--inputs",
                str(inputs),
                "--max-workflows",
                str(B3_INSTANCES),
            )
            ok = sum(1 for r in doc["results"] if r["status"] == "ok")
            completed = doc["totals"]["agents"]["completed"]
            if (
                done.returncode != 0
                or ok != B3_INSTANCES
                or completed != len(agents) * B3_INSTANCES
            ):
                problems.append(f"exit {done.returncode}, {ok} instances ok, {completed} agents")
            durations.append(float(doc["duration_s"]))
            walls.append(done.wall_s)
            cpus.append(done.cpu_s)
            log_path = doc["log_path"]
    events = _log_events(log_path)
    latencies = sorted(e["latency_s"] for e in events if e["event"] == "llm.response")
    first = [_event_time(e) for e in events if e["event"] == "agent.started"][:B3_INSTANCES]
    makespan = median(durations)
    checks = (
        Check(
            f"all {B3_INSTANCES} instances complete",
            "yes, every run" if not problems else "; ".join(problems),
            not problems,
        ),
        Check(
            "makespan <= 1.2 x ideal",
            f"{_ratio(makespan, ideal):.3f} x ({seconds(makespan)} vs {seconds(ideal)})",
            _ratio(makespan, ideal) <= 1.2,
        ),
    )
    details = (
        f"Workflow: 10 agents, 4 deep (1 -> 3 -> 3 -> 3, each needing 1-2 agents above), every "
        f"agent {B3_LATENCY_MS} ms at the server; each prompt renders the instance's input. "
        f"{B3_INSTANCES} instances from a JSONL file, all admitted at once (--max-workflows "
        f"{B3_INSTANCES}): {len(agents) * B3_INSTANCES} calls.",
        f"Ideal: the instance's critical path, {seconds(ideal)}, as if all instances ran "
        "side by side with no overhead.",
        f"Makespan: `duration_s` of the run (run.started to run.completed) from the CLI's JSON "
        f"output: {runs(durations)}; median of {REPEATS}.",
        f"Whole `agentflow run` process, start to exit (imports included): {runs(walls)}; "
        f"its CPU time (user + system): {runs(cpus)}.",
        f"Last run's log: call latency as the engine measured it (`llm.response` latency_s, "
        f"server latency {B3_LATENCY_MS / 1000:g} s): median {median(latencies):.3f} s, p90 "
        f"{latencies[int(len(latencies) * 0.9)]:.3f} s, max {latencies[-1]:.3f} s; the first "
        f"{B3_INSTANCES} agents started over {max(first) - min(first):.3f} s. Time above the "
        "server's latency is time the event loop was busy elsewhere.",
    )
    return Outcome(
        "B3",
        "100 workflow instances x 10 agents through the CLI",
        "`agentflow run` with `--inputs` (JSONL, one instance per line) against the fake "
        "server, fixed per-agent latency.",
        checks,
        details,
        (_shown(command, ctx),),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- B4


def _max_in_window(times: Sequence[float], weights: Sequence[float], window: float) -> float:
    """The largest total weight of events in any half-open interval [t, t + window)."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    ts = [times[i] for i in order]
    ws = [weights[i] for i in order]
    prefix = [0.0]
    for w in ws:
        prefix.append(prefix[-1] + w)
    best = 0.0
    for i, t in enumerate(ts):
        j = bisect.bisect_left(ts, t + window)
        best = max(best, prefix[j] - prefix[i])
    return best


def _request_times(log_path: str) -> list[float]:
    return [_event_time(e) for e in _log_events(log_path) if e["event"] == "llm.request"]


B4_RPM_AGENTS = 700
B4_TPM_AGENTS = 300
B4_TPM = 40_000
B4_MAX_TOKENS = 40


def _prompt_tokens(agents: Sequence[AgentSpec], model: str) -> int:
    """The largest prompt, counted with the model's own tokenizer (as the provider would)."""
    from agentflow.plan.tokens import count_messages

    return max(count_messages(model, [("user", a.prompt)]) for a in agents)


def _limit_checks(
    label: str,
    starts: Sequence[float],
    weights: Sequence[float],
    per_window: float,
    capacity: float,
    unit: str,
) -> tuple[list[Check], list[str]]:
    rate = per_window / 60.0
    one = _max_in_window(starts, weights, 1.0)
    span = max(starts) - min(starts)
    total = sum(weights)
    utilisation = (total - capacity) / (span * rate) if span > 0 else 0.0
    checks = [
        Check(
            f"{label}: max {unit} in any 1 s window <= {rate + capacity:g} "
            f"({rate:g}/s + burst {capacity:g})",
            f"{one:g}",
            one <= rate + capacity + 1e-9,
        )
    ]
    if span >= 60.0:
        sixty = _max_in_window(starts, weights, 60.0)
        checks.append(
            Check(
                f"{label}: max {unit} in any 60 s window <= {per_window + capacity:g}",
                f"{sixty:g}",
                sixty <= per_window + capacity + 1e-9,
            )
        )
    else:
        checks.append(
            Check(
                f"{label}: 60 s window",
                f"run shorter than 60 s ({span:.1f} s); whole run {total:g} {unit}",
                None,
            )
        )
    checks.append(
        Check(
            f"{label}: utilisation >= 95%",
            f"{utilisation * 100:.1f}% ({total:g} {unit} in {span:.2f} s)",
            utilisation >= 0.95,
        )
    )
    notes = [
        f"{label}: {len(starts)} requests reached the server in {span:.2f} s "
        f"(first to last arrival); {total:g} {unit}.",
        f"{label}: utilisation = ({unit} - the bucket's initial burst {capacity:g}) / "
        f"(first-to-last arrival time x {rate:g}/s); a perfect limiter gives 100%.",
    ]
    return checks, notes


def b4(ctx: Context) -> Outcome:
    started = time.perf_counter()
    checks: list[Check] = []
    details: list[str] = []
    commands: list[str] = []
    with FakeServer() as server:
        # (a) requests per minute.
        agents = independent_agents(B4_RPM_AGENTS)
        yaml = ctx.write(
            "b4_rpm.yaml",
            workflow_yaml(
                "b4_rpm",
                agents,
                api_base=server.base_url,
                limits={"openai/*": {"rpm": 600, "burst": 5}},
            ),
        )
        server.reset()
        done, doc, command = _agentflow_run(yaml, ctx.log_dir("b4"))
        commands.append(command)
        served = [r for r in server.requests() if r.status == 200]
        if done.returncode != 0 or len(served) != len(agents):
            raise RuntimeError(f"B4 rpm run: exit {done.returncode}, {server.stats()}")
        found, notes = _limit_checks(
            "rpm 600, burst 5", [r.started for r in served], [1.0] * len(served), 600, 5, "requests"
        )
        checks += found
        sent = _request_times(doc["log_path"])
        details += [
            f"(a) {len(agents)} agents, no latency, `rpm: 600, burst: 5`.",
            *notes,
            f"(a) The same windows over the engine's own `llm.request` times (the log): at most "
            f"{_max_in_window(sent, [1.0] * len(sent), 1.0):g} in 1 s, "
            f"{_max_in_window(sent, [1.0] * len(sent), 60.0):g} in 60 s.",
        ]

        # (b) tokens per minute, each call's tokens fixed by the server's usage knob.
        agents = independent_agents(B4_TPM_AGENTS)
        prompt = _prompt_tokens(agents, "openai/gpt-4o-mini")
        per_call = prompt + B4_MAX_TOKENS
        yaml = ctx.write(
            "b4_tpm.yaml",
            workflow_yaml(
                "b4_tpm",
                agents,
                api_base=server.base_url,
                max_tokens=B4_MAX_TOKENS,
                limits={"openai/*": {"tpm": B4_TPM}},
            ),
        )
        server.reset()
        server.control(usage=[prompt, B4_MAX_TOKENS])
        done, doc, command = _agentflow_run(yaml, ctx.log_dir("b4"))
        commands.append(command)
        served = [r for r in server.requests() if r.status == 200]
        if done.returncode != 0 or len(served) != len(agents):
            raise RuntimeError(f"B4 tpm run: exit {done.returncode}, {server.stats()}")
        capacity = B4_TPM / 60.0
        found, notes = _limit_checks(
            f"tpm {B4_TPM}",
            [r.started for r in served],
            [float(per_call)] * len(served),
            B4_TPM,
            capacity,
            "tokens",
        )
        checks += found
        sent = _request_times(doc["log_path"])
        details += [
            f"(b) {len(agents)} agents, no latency, `tpm: {B4_TPM}` (token bucket of one "
            f"second's worth, {capacity:g} tokens); the server reports usage "
            f"{prompt} prompt + {B4_MAX_TOKENS} completion = {per_call} tokens per call (the "
            "prompt counted with the model's tokenizer, the completion at max_tokens, as a "
            "provider would bill it).",
            *notes,
            f"(b) The same 1 s window over the engine's own `llm.request` times: at most "
            f"{_max_in_window(sent, [float(per_call)] * len(sent), 1.0):g} tokens.",
        ]
    details.append(
        "Windows are half-open [t, t + w) starting at every arrival; times are the server's "
        "arrival times (what the provider counts). Single run each (the checks are maxima, "
        "and the runs are long)."
    )
    return Outcome(
        "B4",
        "saturating load under rpm and tpm limits",
        "Many more agents than the limit admits at once, through `agentflow run`; the "
        "server's arrival times are checked against every window.",
        tuple(checks),
        tuple(details),
        tuple(_shown(c, ctx) for c in commands),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- B5


_IMPORT_PROBE = (
    "import sys\n"
    "sys.argv = ['agentflow', *sys.argv[1:]]\n"
    "from agentflow.cli.app import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('LITELLM_IMPORTED=%d' % ('litellm' in sys.modules), file=sys.stderr)\n"
)


def _timed(argv: Sequence[str], repeats: int) -> tuple[list[float], Completed]:
    results = [run(argv) for _ in range(repeats)]
    for done in results:
        if done.returncode != 0:
            raise RuntimeError(
                f"{command_line(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}"
            )
    return [d.wall_s for d in results], results[-1]


def _imports_litellm(args: Sequence[str]) -> bool:
    done = run([PYTHON, "-c", _IMPORT_PROBE, *args])
    return "LITELLM_IMPORTED=1" in done.stderr


def b5(ctx: Context) -> Outcome:
    started = time.perf_counter()
    help_times, _ = _timed([AGENTFLOW, "--help"], 5)
    validate_argv = [AGENTFLOW, "validate", "workflows/"]
    validate_times, _ = _timed(validate_argv, 5)
    big = layered_dag(levels=100, width=100, seed=7, latency_ms=0, max_deps=2, template_refs=True)
    yaml = ctx.write("b5_10k.yaml", workflow_yaml("b5_10k", big, api_base=None))
    big_validate = [AGENTFLOW, "validate", str(yaml)]
    big_plan = [AGENTFLOW, "plan", str(yaml)]
    big_plan_json = [AGENTFLOW, "plan", str(yaml), "--format", "json"]
    validate_10k, _ = _timed(big_validate, REPEATS)
    plan_10k, _ = _timed(big_plan, REPEATS)
    plan_json_10k, plan_done = _timed(big_plan_json, REPEATS)
    agents_planned = len(plan_done.json().get("agents", [])) if plan_done.stdout else 0
    probes = {
        "--help": ["--help"],
        "validate": ["validate", "workflows/"],
        "plan": ["plan", "workflows/hr_onboarding.yaml"],
        "graph": ["graph", "workflows/hr_onboarding.yaml"],
        "schema": ["schema"],
    }
    imported = {name: _imports_litellm(args) for name, args in probes.items()}
    total_10k = median(validate_10k) + median(plan_10k)
    checks = (
        Check(
            "`--help`, validate, plan, graph, schema never import litellm",
            "none imports it"
            if not any(imported.values())
            else "imported by " + ", ".join(k for k, v in imported.items() if v),
            not any(imported.values()),
        ),
        Check("`agentflow --help` wall time", seconds(median(help_times)), None),
        Check(
            "`agentflow validate workflows/` <= 0.5 s",
            seconds(median(validate_times)),
            median(validate_times) <= 0.5,
        ),
        Check(
            "10,000-agent workflow: validate + plan <= 5 s",
            f"{seconds(total_10k)} (validate {seconds(median(validate_10k))}, plan "
            f"{seconds(median(plan_10k))})",
            total_10k <= 5.0,
        ),
        Check(
            "10,000 agents: validate + plan --format json <= 5 s",
            f"{seconds(median(validate_10k) + median(plan_json_10k))} (plan "
            f"{seconds(median(plan_json_10k))})",
            median(validate_10k) + median(plan_json_10k) <= 5.0,
        ),
    )
    details = (
        "Wall time of the whole command, process start to exit (what a user or CI waits for); "
        "medians: `--help` and `validate workflows/` of 5 runs, the 10,000-agent commands of "
        f"{REPEATS}.",
        f"`agentflow --help`: {runs(help_times)}.",
        f"`agentflow validate workflows/`: {runs(validate_times)}.",
        "litellm import check: each command run through `python -c` with the CLI's `main()`, "
        "then `'litellm' in sys.modules` printed: "
        + ", ".join(f"{k}: {'imported' if v else 'not imported'}" for k, v in imported.items())
        + ".",
        "10,000-agent workflow: 100 levels x 100 agents, each needing 1-2 agents of the level "
        "above (one through a `{{ agents.X.output }}` template reference, the other through "
        f"`needs`); validate {runs(validate_10k)}, plan (table, the default) {runs(plan_10k)}, "
        f"plan --format json {runs(plan_json_10k)} ({agents_planned} agents in the plan's "
        "JSON). Output goes to a pipe, as in CI.",
    )
    commands = (
        command_line([AGENTFLOW, "--help"]),
        command_line(validate_argv),
        _shown(command_line(big_validate), ctx),
        _shown(command_line(big_plan), ctx),
        _shown(command_line(big_plan_json), ctx),
        command_line(
            [PYTHON, "-c", "<probe: run main(), print 'litellm' in sys.modules>", "--help"]
        ),
    )
    return Outcome(
        "B5",
        "start-up, validate and plan",
        "The CLI as a user runs it, in fresh processes.",
        checks,
        details,
        commands,
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- B6


B6_AGENTS = 2000
B6_CONCURRENCY = 100
B6_ROUNDS = 5


def b6(ctx: Context) -> Outcome:
    started = time.perf_counter()
    with FakeServer() as server:
        yaml = ctx.write(
            "b6.yaml",
            workflow_yaml("b6_throughput", independent_agents(B6_AGENTS), api_base=server.base_url),
        )
        warm = ctx.write(
            "b6_warm.yaml",
            workflow_yaml("b6_warm", independent_agents(50), api_base=server.base_url),
        )
        args = {
            "yaml": str(yaml),
            "warmup_yaml": str(warm),
            "api_base": server.base_url,
            "concurrency": B6_CONCURRENCY,
            "rounds": B6_ROUNDS,
            "log_dir": str(ctx.log_dir("b6")),
        }
        server.reset()
        result = worker("throughput", args)
        stats = server.stats()
    engine = median(result["engine_calls_per_s"])
    journaled = median(result["engine_journal_calls_per_s"])
    bare = median(result["bare_calls_per_s"])
    bare_frozen = median(result["bare_frozen_calls_per_s"])
    ratio = _ratio(engine, bare)
    checks = (
        Check("engine calls/s", f"{engine:.0f}", None),
        Check("bare `litellm.acompletion` calls/s", f"{bare:.0f}", None),
        Check(
            "engine throughput >= 90% of bare",
            f"{ratio * 100:.1f}%",
            ratio >= 0.90,
        ),
        Check(
            "B11: journaling every answer costs <= 5% of engine throughput",
            f"{(1 - _ratio(journaled, engine)) * 100:.1f}% ({journaled:.0f} calls/s journaled)",
            _ratio(journaled, engine) >= 0.95,
        ),
        Check(
            "engine against bare with the heap frozen as the engine does",
            f"{_ratio(engine, bare_frozen) * 100:.1f}% (bare frozen: {bare_frozen:.0f} calls/s)",
            None,
        ),
    )
    details = (
        f"{B6_AGENTS} independent agents, no latency at the server, at most {B6_CONCURRENCY} "
        f"calls in flight (engine: `max_concurrency={B6_CONCURRENCY}`; bare: an "
        "`asyncio.Semaphore`), in one process, on one core.",
        f"Rounds alternate bare, bare with a frozen heap, engine, {B6_ROUNDS} each, after a "
        f"warm-up; medians. Engine: {runs(result['engine_calls_per_s'], 'calls/s')}; bare: "
        f"{runs(result['bare_calls_per_s'], 'calls/s')}; bare with a frozen heap: "
        f"{runs(result['bare_frozen_calls_per_s'], 'calls/s')}; engine journaling every "
        f"answer to the state database (SQLite, WAL, the answers of one event-loop turn in one "
        f"commit, as `agentflow run` does): {runs(result['engine_journal_calls_per_s'], 'calls/s')}.",
        "The engine freezes the objects alive when a run starts (`gc.freeze()`, "
        "`agentflow/run/heap.py`), so the garbage collector stops rescanning LiteLLM's "
        "several hundred thousand long-lived objects; the target compares against bare "
        "`litellm.acompletion` as a user would call it, the last row against the bare "
        "scheduler given the same freeze (the engine's own overhead alone).",
        "The engine's rounds include everything `agentflow run` does per call: rendering, "
        "token estimate, limiter, budget ledger, events to the JSONL log and the cost summary.",
        f"Server: {stats['count']} requests (warm-up included), statuses {stats['statuses']}; "
        f"at most {stats['max_in_flight']} in flight at the server, which answers a "
        "zero-latency request before it reads the next.",
    )
    return Outcome(
        "B6",
        "throughput against a zero-latency server",
        "Calls per second of the engine against bare `litellm.acompletion` at the same "
        "concurrency, same process, same server.",
        checks,
        details,
        (
            _shown(
                command_line([PYTHON, "-m", "benchmarks.worker", "throughput", json.dumps(args)]),
                ctx,
            ),
        ),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- faults


FAULT_AGENTS = 200


def faults(ctx: Context) -> Outcome:
    started = time.perf_counter()
    agents = independent_agents(FAULT_AGENTS, latency_ms=100)
    retry = {"max_attempts": 8, "initial_delay": "200ms", "max_delay": "4s"}
    with FakeServer() as server:
        yaml = ctx.write(
            "faults.yaml",
            workflow_yaml("faults", agents, api_base=server.base_url, timeout="2s", retry=retry),
        )
        server.reset()
        server.control(p_429=0.2, p_500=0.1, p_hang=0.05, seed=7)
        done, doc, command = _agentflow_run(yaml, ctx.log_dir("faults"))
        stats = server.stats()
    completed = doc["totals"]["agents"]["completed"]
    by_class: dict[str, int] = {}
    for event in _log_events(doc["log_path"]):
        if event["event"] == "llm.retry":
            by_class[event["error_class"]] = by_class.get(event["error_class"], 0) + 1
    checks = (
        Check(
            f"all {FAULT_AGENTS} agents complete",
            f"{completed} completed, exit {done.returncode}",
            completed == FAULT_AGENTS and done.returncode == 0,
        ),
        Check(
            "retries",
            f"{doc['totals']['retries']} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
            + ")",
            None,
        ),
        Check("total time", seconds(float(doc["duration_s"])), None),
    )
    details = (
        f"{FAULT_AGENTS} independent agents, 100 ms each; the server answers 429 (Retry-After: "
        "1) with p=0.2, 500 with p=0.1 and hangs with p=0.05 (seeded); agent timeout 2 s; "
        f"retry {retry}.",
        f"Server: {stats['count']} requests, statuses {stats['statuses']} (None: a hung "
        "request the client gave up on).",
        "Retries by error class from the run log's `llm.retry` events. Single run.",
    )
    return Outcome(
        "faults",
        "200 agents under 429s, 500s and hangs",
        "`agentflow run` against a faulty server: everything retryable must end completed.",
        checks,
        details,
        (_shown(command, ctx),),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------- budget


BUDGET_AGENTS = 300
BUDGET_USD = 0.05
BUDGET_MAX_TOKENS = 100
BUDGET_COMPLETION = 60


def _litellm_price(model: str) -> tuple[float, float]:
    """USD per input and output token from the price map bundled with LiteLLM (not imported)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("litellm is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    prices = json.loads((folder / "model_prices_and_context_window_backup.json").read_text())
    entry = prices[model]
    return float(entry["input_cost_per_token"]), float(entry["output_cost_per_token"])


def budget(ctx: Context) -> Outcome:
    started = time.perf_counter()
    agents = independent_agents(BUDGET_AGENTS, latency_ms=300)
    prompt = _prompt_tokens(agents, "openai/gpt-4o")
    price_in, price_out = _litellm_price("gpt-4o")
    per_call = prompt * price_in + BUDGET_COMPLETION * price_out
    with FakeServer() as server:
        yaml = ctx.write(
            "budget.yaml",
            workflow_yaml(
                "budget",
                agents,
                api_base=server.base_url,
                model="openai/gpt-4o",
                max_tokens=BUDGET_MAX_TOKENS,
            ),
        )
        server.reset()
        server.control(usage=[prompt, BUDGET_COMPLETION])
        done, doc, command = _agentflow_run(
            yaml, ctx.log_dir("budget"), "--budget-usd", f"{BUDGET_USD}"
        )
        stats = server.stats()
    answered = int(stats["statuses"].get("200", 0))
    spend = answered * per_call
    checks = (
        Check(
            f"spend at the server's usage <= ${BUDGET_USD}",
            f"${spend:.5f} ({answered} answered calls x ${per_call:.6f})",
            spend <= BUDGET_USD + 1e-12,
        ),
        Check("exit code 3 (stopped by budget)", str(done.returncode), done.returncode == 3),
        Check(
            "cost the run reports",
            f"${float(doc['totals']['cost_usd']):.5f}, {doc['totals']['agents']}",
            None,
        ),
    )
    details = (
        f"{BUDGET_AGENTS} independent `openai/gpt-4o` agents (300 ms each, max_tokens "
        f"{BUDGET_MAX_TOKENS}) started at once under `--budget-usd {BUDGET_USD}`.",
        f"The server reports {prompt} prompt tokens (the prompt counted with the model's "
        f"tokenizer) and {BUDGET_COMPLETION} completion tokens per call; at LiteLLM's gpt-4o "
        f"prices (${price_in * 1e6:g} / ${price_out * 1e6:g} per 1M) that is ${per_call:.6f} "
        "a call. Spend = calls the server answered with 200 x that price.",
        f"Server: {stats['count']} requests, statuses {stats['statuses']}. Single run.",
    )
    return Outcome(
        "budget",
        "300 concurrent gpt-4o calls under --budget-usd 0.05",
        "`agentflow run --budget-usd`: spend never exceeds the budget, however many calls run "
        "at once, and the run exits 3.",
        checks,
        details,
        (_shown(command, ctx),),
        time.perf_counter() - started,
    )


PROGRESS_INSTANCES, PROGRESS_AGENTS, PROGRESS_ITEMS = 100, 5, 20
PROGRESS_EVENT_TARGET_S = 50e-6


def _progress_events() -> list[Any]:
    """A batch as the live display sees it: instances x agents, each a fan-out of items."""
    from agentflow.events.types import Event

    events = [Event("run.started", 0.0, "bench", 1, data={"workflows": ["wf"], "instances": 100})]

    def add(name: str, instance: int | None, agent: str | None, **data: Any) -> None:
        events.append(Event(name, 0.0, "bench", len(events) + 1, "wf", instance, agent, data))

    for i in range(PROGRESS_INSTANCES):
        add("workflow.started", i, None, agents=PROGRESS_AGENTS, inputs={})
        for a in range(PROGRESS_AGENTS):
            agent = f"a{a}"
            add("agent.started", i, agent, model="m", items=PROGRESS_ITEMS)
            for index in range(PROGRESS_ITEMS):
                add("llm.request", i, agent, model="m", index=index)
                add("llm.response", i, agent, model="m", index=index, tool_calls=0,
                    input_tokens=10, output_tokens=2, cost_usd=0.001)  # fmt: skip
            add("agent.completed", i, agent, model="m", cost_usd=0.02, input_tokens=200,
                output_tokens=40, calls=PROGRESS_ITEMS, duration_s=1.0)  # fmt: skip
        add("workflow.completed", i, None, status="ok")
    return events


def progress(ctx: Context) -> Outcome:
    """Per-event cost of the live progress display's `handle()`, and of drawing one frame."""
    import io

    from rich.console import Console

    from agentflow.sinks.progress import ProgressSink

    started = time.perf_counter()
    events = _progress_events()
    per_event: list[float] = []
    frame_s: list[float] = []
    for _ in range(REPEATS):
        sink = ProgressSink(Console(file=io.StringIO()), time.monotonic)
        began = time.perf_counter()
        for event in events:
            sink.handle(event)
        per_event.append((time.perf_counter() - began) / len(events))
        console = Console(file=io.StringIO(), width=80, height=24)
        began = time.perf_counter()
        console.print(sink.render())
        frame_s.append(time.perf_counter() - began)
    measured = median(per_event)
    checks = (
        Check(
            f"ProgressSink.handle() <= {PROGRESS_EVENT_TARGET_S * 1e6:.0f} µs per event",
            f"{measured * 1e6:.2f} µs (median of {REPEATS} x {len(events):,} events)",
            measured <= PROGRESS_EVENT_TARGET_S,
        ),
        Check("one 80x24 frame drawn", f"{median(frame_s) * 1e3:.1f} ms", None),
    )
    details = (
        f"{PROGRESS_INSTANCES} instances x {PROGRESS_AGENTS} fan-out agents x "
        f"{PROGRESS_ITEMS} items: {len(events):,} events (request and response per item) fed "
        "to the sink in process, no Live thread; the frame is rendered into an 80x24 Console.",
        "Rich's Live redraws at most 4 times a second, so the frame cost is paid 4 times a "
        "second at most, whatever the event rate.",
    )
    return Outcome(
        "progress",
        "live progress display, per event",
        "`handle()` only updates counters, so a run's events cost the display next to nothing.",
        checks,
        details,
        (".venv/bin/python -m benchmarks progress",),
        time.perf_counter() - started,
    )


BENCHMARKS: dict[str, Callable[[Context], Outcome]] = {
    "B1": b1,
    "B2": b2,
    "B3": b3,
    "B4": b4,
    "B5": b5,
    "B6": b6,
    "B8": b8,
    "B9": b9,
    "B12": b12,
    "faults": faults,
    "budget": budget,
    "history": history,
    "kill": kill_resume,
    "metrics": metrics,
    "progress": progress,
    "sweep": sweep,
    "report": report_bench,
    "chain+wide": chain_wide,
    "deadlines": deadlines,
    "redis-limits": shared_limits,
    "redis-budget": shared_budget,
    "standing": standing,
    "adaptive": adaptive,
    "workers": workers,
}

"""`run --queue` and `agentflow worker` end to end: real CLI processes, a real
redis-server, the fake OpenAI server. A worker killed mid-run, one stopped with SIGTERM,
and a starter that died and is resumed.

Every agent's prompt names its instance and step, so the server's record shows whether
an answer was asked for twice.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.workers import answered_holdings
from tests.e2e.cli import (
    Started,
    answered,
    cli_command,
    cli_env,
    of,
    read_log,
    request_text,
    schema_errors,
    start_cli,
    wait_for,
    write_workflow,
)
from tests.fakeserver import FakeLLMServer
from tests.redis_server import RedisServer

pytestmark = pytest.mark.e2e

STEPS = 5


def _batch(tmp_path: Path, server: FakeLLMServer, instances: int, latency_ms: int) -> Path:
    agents: dict[str, Any] = {}
    for step in range(STEPS):
        agent: dict[str, Any] = {
            "prompt": f"Step {step} of item {{{{ inputs.n }}}}. [[latency_ms={latency_ms}]]"
        }
        if step:
            agent["needs"] = [f"s{step - 1}"]
        agents[f"s{step}"] = agent
    flow = write_workflow(
        tmp_path,
        {
            "name": "batch",
            "inputs": {"n": {"type": "integer"}},
            "defaults": {"model": "openai/gpt-4o-mini", "api_base": server.base_url},
            "agents": agents,
            "outputs": {"last": "{{ agents.s4.output }}"},
        },
    )
    lines = "".join(json.dumps({"n": n}) + "\n" for n in range(instances))
    (tmp_path / "in.jsonl").write_text(lines, encoding="utf-8")
    return flow


def _worker(tmp_path: Path, queue: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command("worker", "--queue", queue, *args),
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 90.0) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stderr


def _completed(events: list[dict[str, Any]]) -> Counter[int]:
    return Counter(e["instance"] for e in of(events, "workflow.completed"))


def _starter(flow: Path, tmp_path: Path, queue: str, run_id: str, *extra: str) -> Started:
    return start_cli(
        flow,
        "--inputs",
        tmp_path / "in.jsonl",
        "--queue",
        queue,
        "--no-progress",
        "-q",
        *extra,
        cwd=tmp_path,
        run_id=run_id,
    )


def test_a_worker_killed_mid_run_loses_nothing_and_no_received_answer_is_asked_again(
    fake_server: FakeLLMServer,
    redis_server: RedisServer,
    tmp_path: Path,
    event_validator: Any,
) -> None:
    instances = 200
    flow = _batch(tmp_path, fake_server, instances, latency_ms=5)
    queue = redis_server.url
    workers = [
        _worker(tmp_path, queue, "--run-id", "q1", "--max-workflows", "20") for _ in range(2)
    ]
    starter = _starter(
        flow, tmp_path, queue, "q1", "--queue-only", "--lease", "2", "-o", tmp_path / "out.json"
    )
    wait_for(lambda: len(answered(fake_server)) >= 250, 60, "a quarter of the calls")
    # Killed while it holds an instance with answers journaled (not between two batches)
    # and that instance's next call waits at the server, the starter told of it.
    in_flight = _freeze_with_calls_of(fake_server, redis_server.url, workers[0].pid)
    workers[0].kill()
    killed_at = time.time()
    fake_server.paused = False
    outcome = starter.finish(timeout=90)
    survivor, survivor_err = _finish(workers[1])
    _finish(workers[0])

    assert outcome.returncode == 0, outcome.describe()
    assert survivor == 0, survivor_err
    events = outcome.events()
    assert schema_errors(event_validator, events) == []
    assert _completed(events) == Counter(range(instances))  # each of the 200 once
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "run.started" and events[-1]["event"] == "run.completed"
    assert events[-1]["status"] == "ok"
    results = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert len(results) == instances and {r["status"] for r in results} == {"ok"}

    asked = Counter(request_text(r) for r in fake_server.requests)
    assert len(asked) == instances * STEPS  # every answer was asked for
    twice = {text for text, count in asked.items() if count > 1}
    for record in fake_server.requests:
        if request_text(record) in twice and record is _first(fake_server, record):
            # only calls still on their way when the worker died may be asked again
            assert record.generated_at is None or record.generated_at > killed_at - 0.5, (
                f"an answer received before the kill was asked again: {request_text(record)}"
            )
    replayed = sum(1 for e in of(events, "llm.response") if e.get("replayed"))
    assert replayed > 0  # the instances the dead worker held were replayed, not re-paid
    # Every answer a worker received is reported with its cost once: by its own event, or
    # (journaled, then the worker died before relaying it) by the replay that finds it.
    # Unreported: at most the killed worker's calls in flight (one per chain, 20 chains).
    reported = [e for e in of(events, "llm.response") if not e.get("replayed") or e["cost_usd"] > 0]
    assert len(answered(fake_server)) - 20 <= len(reported) <= len(answered(fake_server))
    # The calls the dead worker had in flight may have been billed: the starter keeps each
    # one it had heard of as unconfirmed cost (only a request sent in the very turn the
    # worker died, before its relay flushed, goes unheard).
    lost = [e for e in of(events, "llm.abandoned") if e["reason"] == "worker_lost"]
    assert lost and all(e["unconfirmed_cost_usd"] > 0 for e in lost)
    assert in_flight <= {(e["instance"], e["agent"]) for e in lost}
    assert events[-1]["totals"]["unconfirmed_calls"] == len(lost)
    assert len(reported) + len(lost) >= len(answered(fake_server)) - 2


def _freeze_with_calls_of(
    server: FakeLLMServer, url: str, pid: int, timeout: float = 30.0
) -> set[tuple[int, str]]:
    """Pause the server until the worker with process id `pid` holds an instance with
    answers journaled whose next call waits there; those calls as (instance, agent). The
    server stays paused."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.paused = True
        time.sleep(0.3)  # what the workers hold reaches the server, its requests relayed
        held = answered_holdings(url, "q1", "batch", pid)
        waiting = {
            (int(found[2]), f"s{found[1]}")
            for record in list(server.requests)
            if record.finished is None
            and (found := re.search(r"Step (\d+) of item (\d+)\.", request_text(record)))
            and int(found[2]) in held
        }
        if waiting:
            return waiting
        server.paused = False
        time.sleep(0.05)
    raise AssertionError(f"worker {pid} never held a journaled instance with a call in flight")


def _first(server: FakeLLMServer, record: Any) -> Any:
    text = request_text(record)
    return next(r for r in server.requests if request_text(r) == text)


def test_sigterm_hands_back_what_a_worker_holds_and_another_takes_it_at_once(
    fake_server: FakeLLMServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    flow = _batch(tmp_path, fake_server, 6, latency_ms=700)
    queue = redis_server.url
    leaving = _worker(tmp_path, queue, "--run-id", "q2", "--grace", "0")
    starter = _starter(flow, tmp_path, queue, "q2", "--queue-only", "--lease", "600")
    wait_for(lambda: len(fake_server.requests) >= 3, 60, "the worker's first calls")
    leaving.send_signal(signal.SIGTERM)
    code, stderr = _finish(leaving, timeout=30)
    assert code == 143, stderr
    assert "6 handed back" in stderr
    staying = _worker(tmp_path, queue, "--run-id", "q2")
    started = time.monotonic()
    outcome = starter.finish(timeout=60)
    _finish(staying)
    assert outcome.returncode == 0, outcome.describe()
    assert time.monotonic() - started < 60  # not after the 600 s lease
    assert _completed(outcome.events()) == Counter(range(6))


def test_resume_of_a_queued_run_whose_starter_died_pays_nothing_twice(
    fake_server: FakeLLMServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    instances = 20
    flow = _batch(tmp_path, fake_server, instances, latency_ms=5)
    queue = redis_server.url
    worker = _worker(tmp_path, queue, "--run-id", "q3")
    starter = _starter(flow, tmp_path, queue, "q3", "--queue-only")
    wait_for(lambda: len(answered(fake_server)) >= 10, 60, "the first answers")
    starter.kill()  # SIGKILL: its log stops mid-run; the worker goes on alone
    code, stderr = _finish(worker)
    assert code == 0, stderr
    paid = len(answered(fake_server))
    assert paid == instances * STEPS

    resumed = subprocess.run(
        cli_command(
            "resume",
            "q3",
            "--log-dir",
            tmp_path / "logs",
            "--queue",
            queue,
            "--run-id",
            "q3b",
            "--no-progress",
            "-q",
        ),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(answered(fake_server)) == paid  # every answer came from the journal
    events = read_log(tmp_path / "logs" / "q3b.jsonl")
    assert events[0]["parent_run_id"] == "q3"
    assert _completed(events) == Counter(range(instances))
    totals = events[-1]["totals"]
    assert totals["cost_usd"] == 0 and totals["replayed"] == instances * STEPS


def test_a_queue_that_cannot_be_reached_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.redis_server import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    worker = subprocess.run(
        cli_command("worker", "--queue", url),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 2
    assert "cannot be reached" in worker.stderr and "Traceback" not in worker.stderr
    assert "hunter2" not in worker.stderr


def test_stopping_the_starter_stops_the_run_everywhere_and_resume_goes_on(
    fake_server: FakeLLMServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    flow = _batch(tmp_path, fake_server, 4, latency_ms=1500)
    queue = redis_server.url
    starter = _starter(flow, tmp_path, queue, "q4")  # works on the run itself
    wait_for(lambda: len(fake_server.requests) >= 2, 60, "the first calls")
    starter.process.send_signal(signal.SIGINT)
    outcome = starter.finish(timeout=60)
    assert outcome.returncode == 130, outcome.describe()
    events = outcome.events()
    assert [e["event"] for e in events[-2:]] == ["run.cancelled", "run.completed"]
    assert events[-1]["status"] == "cancelled"

    fake_server.configure(latency_s=0.0)
    resumed = subprocess.run(
        cli_command(
            "resume", "q4", "--log-dir", tmp_path / "logs", "--run-id", "q4b",
            "--no-progress", "-q",
        ),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert resumed.returncode == 2  # its answers are in the queue's Redis: say where
    assert "--queue" in resumed.stderr and "Traceback" not in resumed.stderr


def test_a_run_budget_holds_across_the_workers_of_a_queued_run(
    fake_server: FakeLLMServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    from agentflow.plan.pricing import load_price_book

    fake_server.configure(usage=(40, 190), latency_s=0.05)  # $0.0020 a gpt-4o call
    flow = write_workflow(
        tmp_path,
        {
            "name": "priced",
            "inputs": {"n": {"type": "integer"}},
            "defaults": {
                "model": "openai/gpt-4o",
                "max_tokens": 200,
                "api_base": fake_server.base_url,
            },
            "agents": {"a": {"prompt": "Summarise ledger {{ inputs.n }}."}},
        },
    )
    lines = "".join(json.dumps({"n": n}) + "\n" for n in range(40))
    (tmp_path / "in.jsonl").write_text(lines, encoding="utf-8")
    queue = redis_server.url
    state = ["--state", queue]
    refused = run_cli_queue(flow, tmp_path, queue, "--budget-usd", "0.02")
    assert refused.returncode == 2 and "--state redis://" in refused.stderr

    helper = _worker(tmp_path, queue, "--run-id", "q5", *state)
    elsewhere = _worker(tmp_path, queue, "--run-id", "q5")  # no --state: leaves it to others
    outcome = _starter(flow, tmp_path, queue, "q5", "--budget-usd", "0.02", *state).finish(90)
    _finish(helper)
    _, elsewhere_err = _finish(elsewhere)

    assert outcome.returncode == 3, outcome.describe()
    per_call = load_price_book().cost("openai/gpt-4o", 40, 190)
    assert per_call is not None
    spent = len(answered(fake_server)) * per_call
    assert 0.02 - 2 * 0.0021 < spent <= 0.02
    assert "leaves the run to others" in elsewhere_err, elsewhere_err
    events = outcome.events()
    assert of(events, "budget.exceeded")
    assert events[-1]["totals"]["cost_usd"] == pytest.approx(spent)
    assert {e["instance"] for e in of(events, "workflow.completed")} == set(range(40))


def test_the_starters_pricing_file_prices_every_workers_calls_even_where_it_differs(
    fake_server: FakeLLMServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    fake_server.configure(usage=(1000, 500))
    flow = _batch(tmp_path, fake_server, 6, 1)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai/gpt-4o-mini": {"input": 2.0, "output": 8.0}}))
    queue = redis_server.url
    starter = _starter(flow, tmp_path, queue, "priced", "--pricing", prices, "--queue-only")
    wait_for(
        lambda: b"priced" in redis_server.command("ZRANGE", "agentflow:queue:runs", "0", "-1"),
        30,
        "the run enqueued",
    )
    # The file changes on this host after the run was enqueued: the run keeps the prices it
    # was started with (the worker takes the starter's text, not what this path holds now).
    prices.write_text(json.dumps({"openai/gpt-4o-mini": {"input": 99.0, "output": 99.0}}))
    code, err = _finish(_worker(tmp_path, queue, "--run-id", "priced"))
    outcome = starter.finish(60)

    assert code == 0, err
    assert outcome.returncode == 0, outcome.describe()
    responses = of(outcome.events(), "llm.response")
    assert len(responses) == 6 * STEPS
    per_call = (1000 * 2.0 + 500 * 8.0) / 1e6
    assert [r["cost_usd"] for r in responses] == pytest.approx([per_call] * len(responses))
    assert {r["cost_source"] for r in responses} == {"pricing"}
    assert outcome.events()[-1]["totals"]["cost_usd"] == pytest.approx(per_call * 6 * STEPS)


def run_cli_queue(flow: Path, tmp_path: Path, queue: str, *extra: str) -> Any:
    return subprocess.run(
        cli_command(
            "run", flow, "--inputs", tmp_path / "in.jsonl", "--queue", queue, "--log-dir",
            tmp_path / "logs", *extra,
        ),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip

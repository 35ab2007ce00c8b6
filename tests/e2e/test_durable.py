"""Durable runs through the real CLI and HTTP: SIGKILL then resume, retry, the cache.

Counted at the fake server: a paid answer is never asked for again, and `retry` calls
only what failed and what depended on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import (
    answered,
    cli_command,
    cli_env,
    of,
    read_log,
    start_cli,
    wait_for,
    write_workflow,
)
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

AGENTS = 60


def _cli(*args: str | Path, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args), cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )


def _tag(record: Any) -> str | None:
    text = json.dumps(record.body.get("messages"))
    for word in text.replace('"', " ").replace("\\", " ").split():
        if word.startswith("tag-"):
            return word.rstrip(".,")
    return None


def _wide(server: FakeLLMServer, latency_ms: int) -> dict[str, Any]:
    return {
        "name": "wide",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 50, "api_base": server.base_url},
        "agents": {
            f"a{i}": {"prompt": f"Check invoice tag-{i}. [[latency_ms={latency_ms}]]"}
            for i in range(AGENTS)
        },
    }


def _journaled_agents(state: Path, run_id: str) -> set[str]:
    with sqlite3.connect(state) as db:
        rows = db.execute("SELECT agent FROM responses WHERE run_id = ?", (run_id,)).fetchall()
    return {r[0] for r in rows}


def test_sigkill_then_resume_completes_every_agent_and_pays_no_answer_twice(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(tmp_path, _wide(fake_server, 300))
    run = start_cli(flow, "--max-concurrency", "10", "--no-progress", cwd=tmp_path, run_id="r-kill")
    log = run.log_path
    assert log is not None
    wait_for(
        lambda: log.exists() and len(of(read_log(log), "llm.response")) >= 20,
        timeout=60,
        what="20 answers before the kill",
    )
    run.process.send_signal(signal.SIGKILL)
    run.process.communicate()
    state = tmp_path / "state.db"
    paid_before = _journaled_agents(state, "r-kill")
    assert len(paid_before) >= 20
    requests_before = len(fake_server.requests)

    done = _cli(
        "resume",
        "r-kill",
        "--log-dir",
        tmp_path / "logs",
        "--run-id",
        "r-resumed",
        "--no-progress",
        "--format",
        "json",
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "ok"
    events = read_log(tmp_path / "logs" / "r-resumed.jsonl")
    started = of(events, "run.started")[0]
    assert started["parent_run_id"] == "r-kill"
    finished = {e["agent"] for e in of(events, "agent.completed") + of(events, "agent.reused")}
    assert finished == {f"a{i}" for i in range(AGENTS)}
    asked_again = {_tag(r) for r in fake_server.requests[requests_before:]}
    paid_tags = {f"tag-{name[1:]}" for name in paid_before}
    assert not asked_again & paid_tags, "a journaled answer was requested again"
    # Answers the killed run had received but not yet logged are replayed at $0.
    replayed = [e for e in of(events, "llm.response") if e.get("replayed")]
    assert all(e["cost_usd"] == 0.0 for e in replayed)
    assert {e["agent"] for e in of(events, "agent.reused")} | {
        e["agent"] for e in replayed
    } >= paid_before
    # The resumed run is the parent's child in the history.
    listed = json.loads(
        _cli("runs", "--log-dir", tmp_path / "logs", "-f", "json", cwd=tmp_path).stdout
    )
    by_id = {r["run_id"]: r for r in listed["runs"]}
    assert by_id["r-kill"]["status"] == "unfinished"
    assert by_id["r-resumed"]["parent_run_id"] == "r-kill"


def _chain(server: FakeLLMServer) -> dict[str, Any]:
    agents: dict[str, Any] = {f"leaf{i}": {"prompt": f"Extract tag-leaf{i}."} for i in range(8)}
    agents["total"] = {
        "prompt": "Sum tag-total {{ agents.leaf2.output }} {{ agents.leaf5.output }}."
    }
    agents["report"] = {"prompt": "Report tag-report {{ agents.total.output }}."}
    agents["other"] = {"prompt": "Other tag-other {{ agents.leaf0.output }}."}
    return {
        "name": "chain",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 50, "api_base": server.base_url},
        "agents": agents,
    }


def test_retry_calls_only_what_failed_and_what_depended_on_it(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(tmp_path, _chain(fake_server))
    logs = tmp_path / "logs"
    fake_server.configure(fail_on={"tag-leaf2.": 400, "tag-leaf5.": 400})
    first = _cli(
        "run", flow, "--log-dir", logs, "--run-id", "r-first", "--no-progress", cwd=tmp_path
    )
    assert first.returncode == 1
    assert "agentflow retry r-first" in first.stderr  # the failure report says how to go on
    fake_server.configure(fail_on={})
    before = len(fake_server.requests)

    done = _cli(
        "retry", "r-first", "--log-dir", logs, "--run-id", "r-retry", "--no-progress", cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    asked = sorted(str(_tag(r)) for r in fake_server.requests[before:])
    assert asked == ["tag-leaf2", "tag-leaf5", "tag-report", "tag-total"]
    events = read_log(logs / "r-retry.jsonl")
    reused = {e["agent"] for e in of(events, "agent.reused")}
    assert reused == {f"leaf{i}" for i in range(8) if i not in (2, 5)} | {"other"}

    # --select AGENT+ re-runs that agent and its dependants, even though they succeeded.
    before = len(fake_server.requests)
    again = _cli(
        "retry", "r-retry", "--select", "total+", "--log-dir", logs, "--no-progress", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert sorted(str(_tag(r)) for r in fake_server.requests[before:]) == [
        "tag-report",
        "tag-total",
    ]
    bad = _cli("retry", "r-retry", "--select", "totl", "--log-dir", logs, cwd=tmp_path)
    assert bad.returncode == 2 and "did you mean 'total'" in bad.stderr


def test_a_second_run_with_cache_makes_no_call_and_costs_nothing(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    document = _chain(fake_server)
    document["defaults"]["cache"] = {"ttl": "7d"}
    flow = write_workflow(tmp_path, document)
    logs = tmp_path / "logs"
    first = _cli("run", flow, "--log-dir", logs, "--run-id", "c1", "-f", "json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    calls = len(answered(fake_server))
    assert calls == 11

    second = _cli("run", flow, "--log-dir", logs, "--run-id", "c2", "-f", "json", cwd=tmp_path)

    assert second.returncode == 0, second.stderr
    assert len(answered(fake_server)) == calls  # no new call at the server
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["results"] == b["results"]
    assert b["totals"]["cost_usd"] == 0
    responses = of(read_log(logs / "c2.jsonl"), "llm.response")
    assert len(responses) == 11 and all(e["cached"] and e["cost_usd"] == 0.0 for e in responses)
    # --no-cache asks again.
    third = _cli("run", flow, "--no-cache", "--log-dir", logs, cwd=tmp_path)
    assert third.returncode == 0 and len(answered(fake_server)) == 2 * calls
    stats = json.loads(_cli("cache", "stats", "--log-dir", logs, "-f", "json", cwd=tmp_path).stdout)
    assert stats["entries"] == 11 and stats["hits"] == 11

    # plan says which first calls the cache would answer: the 8 leaves read inputs only;
    # the 3 agents that read other agents' answers cannot be known before the run.
    planned = _cli("plan", flow, "--state", tmp_path / "state.db", "-f", "json", cwd=tmp_path)
    forecast = json.loads(planned.stdout)["cache"]
    assert forecast == {
        "cached_agents": 11,
        "known_calls": 8,
        "hits": 8,
        "saved_usd": pytest.approx(forecast["saved_usd"]),
        "unknown_calls": 3,
    }
    assert forecast["saved_usd"] > 0
    empty = _cli("plan", flow, "--state", tmp_path / "none.db", cwd=tmp_path)
    assert "Cache: 0 of 8 first calls of cached agents" in empty.stdout
    assert not (tmp_path / "none.db").exists()  # plan only reads
    stats_after = json.loads(
        _cli("cache", "stats", "--log-dir", logs, "-f", "json", cwd=tmp_path).stdout
    )
    assert stats_after["hits"] == 11  # a forecast counts no hit


def test_resume_refuses_a_changed_file_and_a_second_resumer(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(tmp_path, _wide(fake_server, 2000))
    run = start_cli(flow, "--no-progress", cwd=tmp_path, run_id="r-int")
    log = run.log_path
    assert log is not None
    wait_for(lambda: log.exists() and len(of(read_log(log), "llm.request")) >= 5, 30, "requests")
    run.process.send_signal(signal.SIGTERM)
    assert run.finish().returncode == 143
    logs = tmp_path / "logs"

    lock = os.open(logs / "r-int.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    busy = _cli("resume", "r-int", "--log-dir", logs, cwd=tmp_path)
    os.close(lock)
    assert busy.returncode == 2 and "being resumed or retried by another process" in busy.stderr

    flow.write_text(flow.read_text().replace("Check invoice", "Check the invoice"))
    changed = _cli("resume", "r-int", "--log-dir", logs, cwd=tmp_path)
    assert changed.returncode == 2
    assert "changed since run 'r-int'" in changed.stderr and "--allow-changed" in changed.stderr
    assert len(list(logs.glob("*.jsonl"))) == 1  # refused before any new run started

    missing = _cli("resume", "r-nope", "--log-dir", logs, cwd=tmp_path)
    assert missing.returncode == 2 and "no run 'r-nope'" in missing.stderr


def test_log_prompts_records_prompts_and_answers_with_secrets_redacted(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    from tests.e2e.cli import OPENAI_KEY

    document = {
        "name": "prompts",
        "inputs": {"note": {"type": "string"}},
        "defaults": {
            "model": "openai/gpt-4o-mini",
            "max_tokens": 50,
            "api_base": fake_server.base_url,
        },
        "agents": {"summarise": {"prompt": "Summarise tag-p: {{ inputs.note }}"}},
    }
    flow = write_workflow(tmp_path, document)
    logs = tmp_path / "logs"
    note = f"the key is {OPENAI_KEY}"
    plain = _cli(
        "run", flow, "--input", f"note={note}", "--log-dir", logs, "--run-id", "plain", cwd=tmp_path
    )
    logged = _cli(
        "run",
        flow,
        "--input",
        f"note={note}",
        "--log-prompts",
        "--log-dir",
        logs,
        "--run-id",
        "logged",
        cwd=tmp_path,
    )
    assert plain.returncode == 0 and logged.returncode == 0, logged.stderr

    assert "messages" not in of(read_log(logs / "plain.jsonl"), "llm.request")[0]
    text = (logs / "logged.jsonl").read_text()
    assert OPENAI_KEY not in text
    request = of(read_log(logs / "logged.jsonl"), "llm.request")[0]
    assert "Summarise tag-p: the key is [REDACTED]" in request["messages"][-1]["content"]
    response = of(read_log(logs / "logged.jsonl"), "llm.response")[0]
    assert isinstance(response["content"], str) and response["content"]


def test_a_budget_stopped_run_resumes_under_a_raised_budget_without_paying_twice(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    document = _wide(fake_server, 0)
    document["agents"] = {f"a{i}": document["agents"][f"a{i}"] for i in range(20)}
    flow = write_workflow(tmp_path, document)
    logs = tmp_path / "logs"
    stopped = _cli(
        "run",
        flow,
        "--budget-usd",
        "0.0002",
        "--max-concurrency",
        "2",
        "--log-dir",
        logs,
        "--run-id",
        "r-budget",
        "--no-progress",
        cwd=tmp_path,
    )
    assert stopped.returncode == 3, stopped.stderr
    assert "agentflow resume r-budget" in stopped.stderr
    paid_first = {_tag(r) for r in answered(fake_server)}
    assert 0 < len(paid_first) < 20
    before = len(fake_server.requests)

    same = _cli("resume", "r-budget", "--log-dir", logs, "--budget-usd", "0.0000001", cwd=tmp_path)
    assert same.returncode == 2 and "pass --budget-usd with more than" in same.stderr
    done = _cli(
        "resume",
        "r-budget",
        "--budget-usd",
        "1",
        "--log-dir",
        logs,
        "--run-id",
        "r-more",
        "--no-progress",
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    asked = {_tag(r) for r in fake_server.requests[before:]}
    assert not asked & paid_first
    assert asked | paid_first == {f"tag-{i}" for i in range(20)}
    started = of(read_log(logs / "r-more.jsonl"), "run.started")[0]
    assert started["spent_before_usd"] > 0 and started["budget_usd"] == 1

"""`agentflow run` at its edges, through the real CLI and a local fake provider.

A budget of 0, an outputs file that cannot be written at the end, and agents that talk to
their own `api_base` (with `api_key_env`, without any key, Anthropic with or without `/v1`).
Each subprocess pays the LiteLLM import, so every test groups its assertions in few runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow.cli.app import app
from agentflow.cli.boundary import run_app
from agentflow.llm.litellm_client import api_base_for
from tests.e2e.cli import answered, cli_env, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer


def _flow(server: FakeLLMServer, **agents: dict[str, object]) -> dict[str, object]:
    return {
        "name": "edges",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 20, "api_base": server.base_url},
        "agents": agents or {"first": {"prompt": "One."}, "second": {"prompt": "Two."}},
        "outputs": {"first": "{{ agents.first.output }}"},
    }


def test_budget_zero_spends_nothing_and_plan_agrees(
    fake_server: FakeLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_workflow(tmp_path, _flow(fake_server))
    assert run_app(app, ["plan", str(path), "--budget-usd", "0", "-f", "json"]) == 3
    assert json.loads(capsys.readouterr().out)["budget"]["verdict"] == "over"
    ran = run_cli(path, "--budget-usd", "0", "--no-progress", cwd=tmp_path)
    assert ran.returncode == 3, ran.describe()
    assert fake_server.requests == []
    assert not (tmp_path / "logs").exists()
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: --budget-usd 0 allows no spending, and edges.first, edges.second call priced "
        "models (--mock prices its calls too); nothing was run: raise the budget"
    ], ran.stderr
    assert ran.stdout == ""


def test_an_outputs_file_that_fails_at_the_end_keeps_the_outputs_on_stdout(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, _flow(fake_server))
    # /dev/full passes every check before the run (it exists, it is writable) and then
    # refuses the bytes: the late failure a full disk gives.
    failed = run_cli(path, "-o", "/dev/full", "--format", "json", "--no-progress", cwd=tmp_path)
    document = json.loads(failed.stdout)
    assert document["status"] == "ok"
    assert document["results"][0]["outputs"]["first"]
    assert failed.returncode == 1, failed.describe()
    assert (
        "error: could not write --output /dev/full: No space left on device; the outputs are "
        "on stdout" in failed.stderr.splitlines()
    )
    assert Path("/dev/full").is_char_device()  # written in place, never renamed over

    target = tmp_path / "out" / "deep" / "results.json"
    target.parent.mkdir(parents=True)
    target.write_text("old\n")
    written = run_cli(path, "-o", target, "--no-progress", "--quiet", cwd=tmp_path)
    assert written.returncode == 0, written.describe()
    assert json.loads(target.read_text())[0]["status"] == "ok"
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_agents_with_their_own_api_base_need_no_provider_key(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = _flow(
        fake_server,
        first={"prompt": "One."},
        claude={
            "prompt": "Two from {{ agents.first.output }}",
            "model": "anthropic/claude-3-5-haiku-20241022",
            "api_base": fake_server.url + "/v1",  # the spelling that used to give /v1/v1
        },
        claude_bare={
            "prompt": "Three.",
            "model": "anthropic/claude-3-5-haiku-20241022",
            "api_base": fake_server.url,
        },
    )
    path = write_workflow(tmp_path, flow)
    env = cli_env()
    del env["OPENAI_API_KEY"], env["ANTHROPIC_API_KEY"]
    ran = run_cli(path, "--no-progress", "--quiet", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.describe()
    assert sorted(r.path for r in answered(fake_server)) == [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/messages",
    ]


def test_api_key_env_names_the_key_and_is_checked_before_the_run(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    fake_server.configure(api_key="local-secret-1234")
    flow = _flow(
        fake_server,
        first={"prompt": "One.", "api_key_env": "LOCAL_LLM_KEY"},
        second={"prompt": "Two from {{ agents.first.output }}", "api_key_env": "LOCAL_LLM_KEY"},
    )
    path = write_workflow(tmp_path, flow)
    missing = run_cli(path, "--no-progress", cwd=tmp_path)
    assert missing.returncode == 2, missing.describe()
    assert fake_server.requests == []
    assert not (tmp_path / "logs").exists()  # a run that cannot start leaves no log
    assert (
        "error: keys are missing from the environment: agent 'edges.first' needs LOCAL_LLM_KEY; "
        "agent 'edges.second' needs LOCAL_LLM_KEY" in missing.stderr
    )

    ran = run_cli(
        path,
        "--no-progress",
        "--quiet",
        cwd=tmp_path,
        env=cli_env(LOCAL_LLM_KEY="local-secret-1234"),
    )
    assert ran.returncode == 0, ran.describe()
    assert [r.status for r in fake_server.requests] == [200, 200]  # a wrong key gets 401
    assert "local-secret-1234" not in ran.stdout + ran.stderr


def test_an_anthropic_api_base_is_accepted_with_or_without_v1() -> None:
    claude = "anthropic/claude-3-5-haiku-20241022"
    for spelling in ("http://h:8080", "http://h:8080/", "http://h:8080/v1", "http://h:8080/v1/"):
        assert api_base_for(claude, spelling) == "http://h:8080"  # LiteLLM adds /v1/messages
    assert api_base_for("openai/gpt-4o-mini", "http://h:8080/v1") == "http://h:8080/v1"

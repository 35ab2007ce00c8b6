"""Templates in a real run (the CLI in a subprocess): data names read data in prompts,
`for_each`, `when` and `outputs`; a failed output is reported; a signal stops a heavy render.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.cli import of, read_log, request_text, run_cli, start_cli, wait_for, write_workflow
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

RENDERS = 40


def _data_names(server: FakeLLMServer) -> dict[str, object]:
    parse_schema = {
        "type": "object",
        "required": ["items", "get"],
        "properties": {
            "items": {"type": "array", "items": {"type": "string"}},
            "get": {"type": "string"},
        },
    }
    return {
        "name": "data_names",
        "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 50, "api_base": server.base_url},
        "inputs": {
            "items": {"type": "array", "items": {"type": "string"}},
            "keys": {"type": "string"},
            "count": {"type": "integer"},
            "update": {"type": "object"},
        },
        "agents": {
            "parse": {
                "prompt": "Parse {{ inputs.keys }} with {{ inputs.update }} [P]",
                "output": {"schema": parse_schema},
            },
            "fan": {"for_each": "{{ inputs.items }}", "prompt": "Line {{ index }}={{ item }} [F]"},
            "gate": {
                "when": "{{ inputs.count >= 2 }}",
                "prompt": "Gate {{ agents.parse.output.get }} [G]",
            },
        },
        "outputs": {
            "items": "{{ agents.parse.output.items }}",
            "keys": "{{ inputs.keys }}",
            "lines": "{{ agents.fan.output | length }}",
            # Not declared by the (open) schema: a validation warning, a run-time failure.
            "total": "{{ agents.parse.output.totl }}",
        },
    }


def test_data_names_read_data_and_a_failed_output_is_reported(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(tmp_path, _data_names(fake_server))
    inputs = tmp_path / "inputs.json"
    given = {"items": ["a", "b", "c"], "keys": "K-1", "count": 3, "update": {"u": 1}}
    inputs.write_text(json.dumps(given), encoding="utf-8")

    run = run_cli(flow, "--inputs", inputs, cwd=tmp_path, run_id="r-names")

    # Every agent ran; the one output that failed makes the workflow partial (exit 4).
    assert run.returncode == 4, run.describe()
    events = run.events()
    completed = {e["agent"]: e for e in of(events, "agent.completed")}
    assert set(completed) == {"parse", "fan", "gate"}, run.describe()
    texts = [request_text(r) for r in fake_server.requests]
    assert any('Parse K-1 with {\\"u\\": 1} [P]' in t for t in texts), texts
    assert sorted(t for t in texts if "[F]" in t and "Line " in t) and all(
        any(f"Line {i}={v} [F]" in t for t in texts) for i, v in enumerate(given["items"])
    )
    parsed = completed["parse"]["output"]
    assert any(f"Gate {parsed['get']} [G]" in t for t in texts), texts
    (started_fan,) = [e for e in of(events, "agent.started") if e["agent"] == "fan"]
    assert started_fan["items"] == 3

    (workflow,) = of(events, "workflow.completed")
    assert workflow["status"] == "partial"
    assert workflow["outputs"] == {
        "items": parsed["items"],
        "keys": "K-1",
        "lines": 3,
        "total": None,
    }
    (failed,) = of(events, "workflow.output_failed")
    assert failed["output"] == "total" and failed["error_class"] == "template_error"
    assert "totl" in failed["message"]
    assert "WARNING: data_names output total is null: its template failed" in run.stderr


def test_sigterm_stops_a_run_in_the_middle_of_heavy_renders(tmp_path: Path) -> None:
    # Each prompt loops until the step budget stops it (a second or two of CPU each): forty
    # of them keep the run rendering long after the signal is sent.
    heavy = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    flow = write_workflow(
        tmp_path,
        {
            "name": "heavy",
            "defaults": {"model": "openai/gpt-4o-mini", "max_tokens": 20},
            "agents": {f"render{i}": {"prompt": heavy} for i in range(RENDERS)},
        },
    )
    run = start_cli(flow, "--mock", cwd=tmp_path, run_id="r-heavy")
    try:
        log = run.log_path
        assert log is not None
        wait_for(
            lambda: log.exists() and len(of(read_log(log), "agent.started")) == RENDERS,
            timeout=60,
            what="the agents to start rendering",
        )
        time.sleep(0.5)  # well into the renders
        sent = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        outcome = run.finish(timeout=15)
        seconds = time.monotonic() - sent
    finally:
        run.kill()
    assert outcome.returncode == 143, outcome.describe()
    assert seconds < 10, f"took {seconds:.1f} s to stop"  # the process exit, on a busy machine
    events = outcome.events()
    assert [e["event"] for e in events[-2:]] == ["run.cancelled", "run.completed"]
    assert of(events, "llm.request") == []
    # Most renders never finished: the signal, not the step budget, ended them.
    failed = [e for e in of(events, "agent.failed") if e["error_class"] == "template_error"]
    assert len(failed) < RENDERS // 2

"""The fake server itself: markers, knobs, records, and the separate-process mode."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]


def _post(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read()), error.headers


def _chat(server: FakeLLMServer, text: str, **extra: Any) -> tuple[int, dict[str, Any], Any]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}
    return _post(server.base_url + "/chat/completions", body, {"Authorization": "Bearer sk-secret"})


def test_latency_marker_and_records(fake_server: FakeLLMServer) -> None:
    started = time.monotonic()
    status, body, _ = _chat(fake_server, "hello [[latency_ms=200]]")
    assert status == 200 and time.monotonic() - started >= 0.2
    assert body["usage"]["prompt_tokens"] > 0
    record = fake_server.requests[0]
    assert record.finished is not None and record.finished - record.started >= 0.2
    assert "Authorization" not in record.headers and record.status == 200


def test_fail_marker_sets_status_and_retry_after(fake_server: FakeLLMServer) -> None:
    status, body, headers = _chat(fake_server, "x [[fail=429,retry_after=3]]")
    assert status == 429 and headers["retry-after"] == "3"
    assert body["error"]["type"] == "rate_limit_exceeded"


def test_tools_marker_calls_every_tool(fake_server: FakeLLMServer) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": n, "parameters": {"type": "object", "properties": {}}},
        }
        for n in ("a", "b")
    ]
    _, body, _ = _chat(fake_server, "go [[tools]]", tools=tools)
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["a", "b"]
    _, plain, _ = _chat(fake_server, "go", tools=tools)
    assert plain["choices"][0]["message"]["content"]


def test_random_faults_are_seeded(fake_server: FakeLLMServer) -> None:
    fake_server.configure(p_429=0.3, p_500=0.2, seed=42)
    first = [_chat(fake_server, "x")[0] for _ in range(40)]
    fake_server.configure(seed=42)
    second = [_chat(fake_server, "x")[0] for _ in range(40)]
    assert first == second
    assert {200, 429, 500} <= set(first)


def test_unknown_knob_is_refused(fake_server: FakeLLMServer) -> None:
    with pytest.raises(TypeError, match="p_429"):
        fake_server.configure(p_492=0.1)


def test_anthropic_messages_endpoint(fake_server: FakeLLMServer) -> None:
    body = {
        "model": "claude",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi [[tools]]"}]}],
        "tools": [
            {
                "name": "t",
                "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
    }
    status, answer, _ = _post(fake_server.url + "/v1/messages", body)
    assert status == 200 and answer["stop_reason"] == "tool_use"
    assert answer["content"][0]["name"] == "t" and answer["usage"]["input_tokens"] > 0


def test_separate_process_prints_ready_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeserver", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        assert line[0] == "READY"
        url = f"http://127.0.0.1:{int(line[1])}"
        with urllib.request.urlopen(url + "/health", timeout=10) as response:
            assert json.loads(response.read()) == {"ok": True}
        status, _, _ = _post(url + "/_control", {"latency_ms": 0, "p_500": 0.0})
        assert status == 200
        status, _, _ = _post(
            url + "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
        with urllib.request.urlopen(url + "/_stats", timeout=10) as response:
            assert json.loads(response.read())["count"] == 1
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        assert process.stdout is not None
        process.stdout.close()

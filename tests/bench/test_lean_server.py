"""The workers benchmark's lean provider stand-in answers LiteLLM on both of agentflow's
OpenAI routes, over keep-alive and chunked bodies, and keeps the records the benchmark reads."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest

from agentflow.llm.litellm_client import LiteLLMClient
from agentflow.llm.types import LLMRequest, LLMResponse, Message
from benchmarks.server import FakeServer


@pytest.fixture(scope="module")
def lean() -> Iterator[FakeServer]:
    with FakeServer(lean=True) as server:
        yield server


@pytest.mark.parametrize("direct_http", [True, False], ids=["direct route", "sdk route"])
def test_litellm_reads_its_answers_with_their_usage(lean: FakeServer, direct_http: bool) -> None:
    lean.reset()
    request = LLMRequest(
        model="openai/gpt-4o-mini",
        messages=(Message("user", "hi"),),
        max_tokens=8,
        timeout=5.0,
        api_base=lean.base_url,
    )

    async def three() -> list[LLMResponse]:
        client = LiteLLMClient(direct_http=direct_http)
        try:  # one after another (one connection kept alive), then at once
            first = [await client.complete(request)]
            return first + list(await asyncio.gather(*(client.complete(request) for _ in range(2))))
        finally:
            await client.aclose()

    before = time.monotonic()
    answers = asyncio.run(three())
    assert [(a.content, a.input_tokens, a.output_tokens) for a in answers] == [("ok", 20, 10)] * 3
    rows = lean.requests()
    assert [r.status for r in rows] == [200] * 3
    assert all(before <= r.started <= time.monotonic() for r in rows)


def test_a_chunked_body_and_pipelined_requests_are_each_answered_once(lean: FakeServer) -> None:
    lean.reset()
    body = json.dumps({"model": "m", "messages": []}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
    wire = (
        head + b"transfer-encoding: chunked\r\n\r\n" + chunked
        + head + b"content-length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", lean.port), timeout=5) as sock:
        sock.sendall(wire[:7])  # a request split across reads
        time.sleep(0.05)
        sock.sendall(wire[7:])
        with sock.makefile("rb") as reader:
            answers = [_read_response(reader), _read_response(reader)]
    usage = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
    assert answers == [(200, usage), (200, usage)]
    assert len(lean.requests()) == 2
    lean.reset()
    assert lean.requests() == []


def _read_response(reader: BinaryIO) -> tuple[int, Any]:
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, json.loads(reader.read(length))["usage"]

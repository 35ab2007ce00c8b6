"""A fake OpenAI- and Anthropic-compatible LLM server for tests and benchmarks.

In process::

    server = FakeLLMServer()
    await server.start()            # 127.0.0.1, a free port
    server.base_url                 # http://127.0.0.1:PORT/v1  (openai/... api_base)
    server.url                      # http://127.0.0.1:PORT     (anthropic/... api_base)
    await server.stop()

As a process (benchmarks)::

    python -m tests.fakeserver --port 0 [--latency-ms 50] [--p-429 0.01 --seed 7]
    # prints "READY <port>" on stdout, serves until SIGINT/SIGTERM

Endpoints: POST /v1/chat/completions (OpenAI), POST /v1/messages (Anthropic Messages),
GET /health, GET /_stats and POST /_control (knobs, for a server in another process),
POST /_reset.

Per request, markers in the last user message drive the answer::

    [[latency_ms=250]]                 wait before answering
    [[fail=429,retry_after=1]]         answer that HTTP status (retry_after_ms=..., too)
    [[fail=429,code=insufficient_quota]]   with that error code in the body
    [[fail=500]]                       a server error
    [[hang]]                           never answer (until the client gives up or stop())
    [[tools]]                          call every offered tool (until tool results exist)
    [[empty_choices]]                  a 200 whose `choices` is empty
    [[fail=401,bare]]                  an error status with a bare text body ("Unauthorized")
    [[answer_bytes=10000000]]          a text answer of that many bytes

Enforced limits (opt-in, off by default): `enforce_rpm=300` makes the server a provider
with an undeclared request limit, a token bucket refilling rpm/60 per second that holds
`enforce_burst` requests (default one second's worth). A request it has no room for gets
an immediate 429 with `Retry-After` (whole seconds), `retry-after-ms` and the rate-limit
headers; every answer carries them too: OpenAI's `x-ratelimit-limit|remaining|reset-requests`
on /v1/chat/completions, Anthropic's `anthropic-ratelimit-requests-limit|remaining|reset`
on /v1/messages. `rate_limited` counts the 429s it gave. `response_cost=0.0021` sends
`x-litellm-response-cost` on every answer, as the LiteLLM proxy does.

Server knobs (attributes, or `configure(...)`): `latency_s`, or `latency_range` (uniform
per request), `p_429`, `p_500`, `p_hang` with `seed` (random faults), `api_key` (answer 401
to a request without that key), `fail_on` ({text: status}: fail requests that mention
text), `fail_models` ({model: status}: fail every request for that model), `script` (a queue of `Scripted` answers or faults used before anything else), `usage`
(a fixed `(prompt, completion)` pair; otherwise both are counted from the text at four
characters a token), `completion_range` (a random answer length in tokens, at most the
request's max_tokens). A `Scripted` fault with `message=` answers with that error message
instead of "fake N: code"; "{api_key}" in it becomes the key the request presented (as
providers' 401s echo it). `paused=True` holds every request taken in until it is set back
to False.

`requests` records every call: when it arrived and (wall clock, `time.time()`) when its
answer was fully generated, and the tokens generated. Like a provider, the server finishes
generating an answer whose client stopped waiting (timeout, cancel): `generated_cost()`
is what such a provider would bill.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from agentflow.llm.mock import mock_prose, sample_json, seed_for

_MARKER = re.compile(r"\[\[([^\]]*)\]\]")
_REASONS = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}
_HIDDEN_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})


@dataclass(slots=True)
class Scripted:
    """One queued behaviour: a fault (`fail`/`hang`) or a fixed answer."""

    fail: int | None = None
    retry_after: float | None = None
    code: str | None = None
    hang: bool = False
    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None
    latency_s: float | None = None
    message: str | None = None
    empty_choices: bool = False


@dataclass(slots=True)
class Recorded:
    """One request the server received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    started: float
    finished: float | None = None
    status: int | None = None
    received_at: float = 0.0  # wall clock (time.time()) when the request arrived
    generated_at: float | None = None  # wall clock when its answer was fully generated
    tokens: tuple[int, int] | None = None  # (prompt, completion) of the generated answer
    model: str = ""


@dataclass(slots=True)
class _Plan:
    fail: int | None = None
    retry_after: str | None = None
    retry_after_ms: str | None = None
    code: str | None = None
    hang: bool = False
    latency_s: float = 0.0
    tools: bool = False
    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None
    message: str | None = None
    empty_choices: bool = False
    bare: bool = False
    answer_bytes: int | None = None


@dataclass
class FakeLLMServer:
    """An aiohttp server speaking the OpenAI and Anthropic chat wire formats."""

    host: str = "127.0.0.1"
    port: int = 0
    latency_s: float = 0.0
    p_429: float = 0.0
    p_500: float = 0.0
    p_hang: float = 0.0
    seed: int = 0
    usage: tuple[int, int] | None = None
    latency_range: tuple[float, float] | None = None
    completion_range: tuple[int, int] | None = None
    record_bodies: bool = True
    hang_limit_s: float = 300.0
    api_key: str | None = None
    # Fail any request whose last user message contains one of these texts with its status
    # (a fault that a test can lift between two runs, unlike a marker in the prompt).
    fail_on: dict[str, int] = field(default_factory=dict)
    # Fail every request for one of these models (the `model` of the body) with its status.
    fail_models: dict[str, int] = field(default_factory=dict)
    # An undeclared request limit the server enforces (None: none), and its bucket's size.
    enforce_rpm: float | None = None
    enforce_burst: float | None = None
    rate_limited: int = 0
    response_cost: float | None = None
    # While set, requests are taken in and held before any answer is made (a test can
    # freeze every client's calls at the server, then release them).
    paused: bool = False
    _bucket: tuple[float, float] | None = field(default=None, repr=False)  # (level, when)
    script: deque[Scripted] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _runner: web.AppRunner | None = field(default=None, repr=False)
    _stopping: asyncio.Event | None = field(default=None, repr=False)
    _generating: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def start(self) -> FakeLLMServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_get("/health", self._health)
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/_control", self._control)
        app.router.add_post("/_reset", self._reset)
        self._stopping = asyncio.Event()
        self._rng = random.Random(self.seed)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        sockets = site._server.sockets if site._server is not None else ()  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        for task in list(self._generating):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def configure(self, **knobs: Any) -> None:
        """Set knobs by name; `seed` also restarts the fault generator."""
        for name, value in knobs.items():
            if name not in _KNOBS:
                raise TypeError(f"unknown knob {name!r}; known: {', '.join(sorted(_KNOBS))}")
            if name == "usage" and value is not None:
                value = (int(value[0]), int(value[1]))
            if name == "latency_range" and value is not None:
                value = (float(value[0]), float(value[1]))
            if name == "completion_range" and value is not None:
                value = (int(value[0]), int(value[1]))
            setattr(self, name, value)
        if "seed" in knobs:
            self._rng = random.Random(self.seed)

    def enqueue(self, *items: Scripted) -> None:
        """Queue answers or faults, used in order before markers and random faults."""
        self.script.extend(items)

    def reset(self) -> None:
        """Back to defaults: no latency, no faults, empty script and records."""
        self.latency_s = 0.0
        self.p_429 = self.p_500 = self.p_hang = 0.0
        self.seed = 0
        self._rng = random.Random(0)
        self.usage = None
        self.latency_range = None
        self.completion_range = None
        self.record_bodies = True
        self.api_key = None
        self.fail_on = {}
        self.fail_models = {}
        self.enforce_rpm = self.enforce_burst = None
        self.rate_limited = 0
        self.response_cost = None
        self.paused = False
        self._bucket = None
        self.script.clear()
        self.requests.clear()
        self.max_in_flight = self.in_flight

    def statistics(self) -> dict[str, Any]:
        return {
            "count": len(self.requests),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "statuses": _tally(r.status for r in self.requests),
            # (prompt, completion) tokens of every answer fully generated
            "generated_tokens": [
                sum(r.tokens[0] for r in self.requests if r.tokens),
                sum(r.tokens[1] for r in self.requests if r.tokens),
            ],
            "rate_limited": self.rate_limited,
        }

    # ------------------------------------------------------------------ handlers

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.statistics())

    async def _control(self, request: web.Request) -> web.Response:
        knobs = await request.json()
        if "latency_ms" in knobs:
            knobs["latency_s"] = float(knobs.pop("latency_ms")) / 1000.0
        try:
            self.configure(**knobs)
        except TypeError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, _OPENAI)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, _ANTHROPIC)

    async def _serve(self, request: web.Request, wire: _Wire) -> web.StreamResponse:
        received_at = time.time()
        body = await request.json()
        record = Recorded(
            path=request.path,
            body=body if self.record_bodies else {},
            headers={k: v for k, v in request.headers.items() if k.lower() not in _HIDDEN_HEADERS},
            started=time.monotonic(),
            received_at=received_at,
            model=str(body.get("model", "")),
        )
        self.requests.append(record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            while self.paused and self._stopping is not None and not self._stopping.is_set():
                await asyncio.sleep(0.002)
            limit_headers, room = self._take_request(wire)
            if not room:
                self.rate_limited += 1
                record.status = 429
                return wire.rate_limited(limit_headers)
            plan = self._plan(wire.last_user_text(body))
            if record.model in self.fail_models:
                plan.fail = self.fail_models[record.model]
            if self.api_key is not None and _presented_key(request) != self.api_key:
                plan.fail, plan.code = 401, "invalid_api_key"
            if plan.message is not None:
                plan.message = plan.message.replace("{api_key}", _presented_key(request))
            if plan.hang:
                await asyncio.sleep(plan.latency_s)
                await self._hang()
            if plan.fail is not None:
                await asyncio.sleep(plan.latency_s)
                response = wire.error(plan)
            else:
                # Generation goes on when the client stops waiting, as at a provider.
                task = asyncio.ensure_future(self._generate(record, wire, body, plan))
                self._generating.add(task)
                task.add_done_callback(self._generating.discard)
                response = await asyncio.shield(task)
            response.headers.update(limit_headers)
            if self.response_cost is not None:
                response.headers["x-litellm-response-cost"] = repr(self.response_cost)
            record.status = response.status
            return response
        finally:
            self.in_flight -= 1
            record.finished = time.monotonic()

    async def _generate(
        self, record: Recorded, wire: _Wire, body: dict[str, Any], plan: _Plan
    ) -> web.StreamResponse:
        if plan.latency_s > 0:
            await asyncio.sleep(plan.latency_s)
        if plan.empty_choices:
            record.generated_at = time.time()
            record.tokens = (0, 0)
            return web.json_response(_empty_choices(body))
        usage = self.usage
        limit = int(body.get("max_tokens") or 0)
        if self.completion_range is not None:
            low, high = self.completion_range
            completion = self._rng.randint(low, high)
            completion = min(completion, limit) if limit else completion
            plan.content = plan.content or _filler(completion * 4)
            prompt = usage[0] if usage else _approx_tokens(_seed_text(body))
            usage = (prompt, completion)
        if plan.answer_bytes is not None:
            plan.content = _filler(plan.answer_bytes)
        answer = wire.answer(body, plan, usage)
        record.tokens = wire.tokens(answer)
        record.generated_at = time.time()
        return web.json_response(answer)

    def _take_request(self, wire: _Wire) -> tuple[dict[str, str], bool]:
        """Take one request from the enforced limit: its headers, and whether it fits."""
        if self.enforce_rpm is None:
            return {}, True
        rate = self.enforce_rpm / 60.0
        capacity = max(1.0, self.enforce_burst if self.enforce_burst is not None else rate)
        now = time.monotonic()
        level, then = self._bucket if self._bucket is not None else (capacity, now)
        level = min(capacity, level + (now - then) * rate)
        room = level >= 1.0
        if room:
            level -= 1.0
        self._bucket = (level, now)
        wait = 0.0 if room else (1.0 - level) / rate
        headers = wire.limit_headers(self.enforce_rpm, level, (capacity - level) / rate)
        if not room:
            headers["retry-after"] = str(max(1, int(-(-wait // 1))))
            headers["retry-after-ms"] = str(int(wait * 1000) + 1)
        return headers, room

    def generated_cost(self, price: Any) -> float:
        """What the server generated, priced by `price(model, prompt, completion)`: every
        answer it fully generated, whether or not the client was still there to get it."""
        return sum(float(price(r.model, *r.tokens) or 0.0) for r in list(self.requests) if r.tokens)

    async def _hang(self) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.hang_limit_s)
        raise web.HTTPServiceUnavailable(text="hung request released")

    def _plan(self, text: str) -> _Plan:
        latency = self.latency_s
        if self.latency_range is not None:
            latency = self._rng.uniform(*self.latency_range)
        plan = _Plan(latency_s=latency)
        if self.script:
            item = self.script.popleft()
            plan.fail, plan.code, plan.hang = item.fail, item.code, item.hang
            plan.empty_choices = item.empty_choices
            plan.content, plan.tool_calls = item.content, item.tool_calls
            plan.message = item.message
            if item.retry_after is not None:
                plan.retry_after = _number(item.retry_after)
            if item.latency_s is not None:
                plan.latency_s = item.latency_s
            return plan
        if "[[" in text:
            _apply_markers(plan, text)
        for needle, status in self.fail_on.items():
            if needle in text:
                plan.fail = status
        if plan.fail is None and not plan.hang and (self.p_429 or self.p_500 or self.p_hang):
            roll = self._rng.random()
            if roll < self.p_429:
                plan.fail, plan.retry_after = 429, "1"
            elif roll < self.p_429 + self.p_500:
                plan.fail = 500
            elif roll < self.p_429 + self.p_500 + self.p_hang:
                plan.hang = True
        return plan


_KNOBS = frozenset(
    {
        "latency_s",
        "latency_range",
        "completion_range",
        "p_429",
        "p_500",
        "p_hang",
        "seed",
        "usage",
        "record_bodies",
        "hang_limit_s",
        "api_key",
        "fail_on",
        "fail_models",
        "enforce_rpm",
        "enforce_burst",
        "response_cost",
        "paused",
    }
)


def _presented_key(request: web.Request) -> str:
    """The API key a request carries (OpenAI: `Authorization: Bearer K`, Anthropic: `x-api-key`)."""
    bearer = request.headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:]
    return request.headers.get("x-api-key", "")


def _filler(size: int) -> str:
    """`size` bytes of plain answer text."""
    line = "The ledger balances for this period. "
    return (line * (size // len(line) + 1))[:size]


def _empty_choices(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-empty",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model", "fake")),
        "choices": [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[str(value)] = out.get(str(value), 0) + 1
    return out


def _apply_markers(plan: _Plan, text: str) -> None:
    for group in _MARKER.findall(text):
        for part in group.split(","):
            key, _, value = part.strip().partition("=")
            value = value.strip()
            if key == "latency_ms":
                plan.latency_s = float(value) / 1000.0
            elif key == "fail":
                plan.fail = int(value)
            elif key == "retry_after":
                plan.retry_after = value
            elif key == "retry_after_ms":
                plan.retry_after_ms = value
            elif key == "code":
                plan.code = value
            elif key == "hang":
                plan.hang = True
            elif key == "tools":
                plan.tools = True
            elif key == "empty_choices":
                plan.empty_choices = True
            elif key == "bare":
                plan.bare = True
            elif key == "answer_bytes":
                plan.answer_bytes = int(value)


def _approx_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


# ---------------------------------------------------------------------- wire formats


class _Wire:
    """How one API shapes requests, answers and errors."""

    def last_user_text(self, body: dict[str, Any]) -> str:
        for message in reversed(body.get("messages") or ()):
            if message.get("role") == "user":
                text = _text_of(message.get("content"))
                if text:
                    return text
        return ""

    def answer(
        self, body: dict[str, Any], plan: _Plan, usage: tuple[int, int] | None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def error(self, plan: _Plan) -> web.Response:
        raise NotImplementedError

    def tokens(self, answer: dict[str, Any]) -> tuple[int, int]:
        """(prompt, completion) tokens an answer reports."""
        raise NotImplementedError

    def limit_headers(self, rpm: float, level: float, reset_s: float) -> dict[str, str]:
        """The rate-limit headers of an enforced limit: `level` requests left now."""
        return {
            "x-ratelimit-limit-requests": _number(rpm),
            "x-ratelimit-remaining-requests": str(max(0, int(level))),
            "x-ratelimit-reset-requests": f"{reset_s:.3f}s",
        }

    def rate_limited(self, headers: dict[str, str]) -> web.Response:
        """The immediate 429 of an enforced limit."""
        plan = _Plan(fail=429, message="fake 429: rate limit reached for requests")
        response = self.error(plan)
        response.headers.update(headers)
        return response


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(block.get("text") or _text_of(block.get("content")))
            for block in content
            if isinstance(block, dict)
        )
    return ""


def _error_headers(plan: _Plan) -> dict[str, str]:
    headers = {}
    if plan.retry_after is not None:
        headers["retry-after"] = plan.retry_after
    if plan.retry_after_ms is not None:
        headers["retry-after-ms"] = plan.retry_after_ms
    return headers


def _forced_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "tool":
            return str(choice.get("name"))
        function = choice.get("function")
        if isinstance(function, dict) and function.get("name"):
            return str(function["name"])
    return None


def _seed_text(body: dict[str, Any]) -> str:
    return json.dumps(body.get("messages"), sort_keys=True, default=str)


class _OpenAIWire(_Wire):
    def answer(
        self, body: dict[str, Any], plan: _Plan, usage: tuple[int, int] | None
    ) -> dict[str, Any]:
        messages = body.get("messages") or []
        model = str(body.get("model", "fake"))
        rng = random.Random(seed_for(model, _seed_text(body)))
        tools = [t.get("function", {}) for t in body.get("tools") or ()]
        has_results = any(m.get("role") == "tool" for m in messages)
        forced = _forced_tool(body)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if plan.tool_calls is not None:
            message["tool_calls"] = [_openai_call(n, a, rng) for n, a in plan.tool_calls]
        elif tools and not has_results and (plan.tools or forced):
            chosen = [t for t in tools if forced is None or t.get("name") == forced]
            message["tool_calls"] = [
                _openai_call(t["name"], sample_json(t.get("parameters") or {}, rng), rng)
                for t in chosen
            ]
        else:
            message["content"] = (
                plan.content
                if plan.content is not None
                else _final_text(body.get("response_format"), messages, self, body, rng)
            )
        out_text = message["content"] or json.dumps(message.get("tool_calls"))
        prompt, completion = usage or (
            _approx_tokens(_seed_text(body)),
            _approx_tokens(out_text),
        )
        return {
            "id": f"chatcmpl-{rng.getrandbits(48):012x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def tokens(self, answer: dict[str, Any]) -> tuple[int, int]:
        usage = answer["usage"]
        return int(usage["prompt_tokens"]), int(usage["completion_tokens"])

    def error(self, plan: _Plan) -> web.Response:
        status = plan.fail or 500
        if plan.bare:
            return web.Response(status=status, text=_REASONS.get(status, "Error"))
        kind = {
            400: "invalid_request_error",
            401: "invalid_api_key",
            404: "not_found",
            429: "rate_limit_exceeded",
        }.get(status, "server_error")
        code = plan.code or kind
        message = plan.message if plan.message is not None else f"fake {status}: {code}"
        body = {"error": {"message": message, "type": kind, "code": code}}
        return web.json_response(body, status=status, headers=_error_headers(plan))


def _openai_call(name: str, arguments: Any, rng: random.Random) -> dict[str, Any]:
    return {
        "id": f"call_{rng.getrandbits(64):016x}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _final_text(
    response_format: Any,
    messages: list[dict[str, Any]],
    wire: _Wire,
    body: dict[str, Any],
    rng: random.Random,
) -> str:
    results = [_text_of(m.get("content")) for m in messages if m.get("role") == "tool"]
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            return json.dumps(sample_json(schema, rng))
        if response_format.get("type") == "json_object":
            return json.dumps({"answer": mock_prose(wire.last_user_text(body), rng)})
    return mock_prose(wire.last_user_text(body), rng, quotes=results)


class _AnthropicWire(_Wire):
    def answer(
        self, body: dict[str, Any], plan: _Plan, usage: tuple[int, int] | None
    ) -> dict[str, Any]:
        messages = body.get("messages") or []
        model = str(body.get("model", "fake"))
        rng = random.Random(seed_for(model, _seed_text(body)))
        tools = body.get("tools") or []
        has_results = any(
            isinstance(m.get("content"), list)
            and any(b.get("type") == "tool_result" for b in m["content"] if isinstance(b, dict))
            for m in messages
        )
        forced = _forced_tool(body)
        blocks: list[dict[str, Any]] = []
        if plan.tool_calls is not None:
            blocks = [_anthropic_use(n, a, rng) for n, a in plan.tool_calls]
        elif tools and (forced or (plan.tools and not has_results)):
            chosen = [t for t in tools if forced is None or t.get("name") == forced]
            blocks = [
                _anthropic_use(t["name"], sample_json(t.get("input_schema") or {}, rng), rng)
                for t in chosen
            ]
        else:
            text = plan.content
            if text is None:
                output_format = body.get("output_format")
                if isinstance(output_format, dict) and output_format.get("schema"):
                    text = json.dumps(sample_json(output_format["schema"], rng))
                else:
                    text = mock_prose(self.last_user_text(body), rng)
            blocks = [{"type": "text", "text": text}]
        out_text = json.dumps(blocks)
        prompt, completion = usage or (
            _approx_tokens(_seed_text(body) + str(body.get("system", ""))),
            _approx_tokens(out_text),
        )
        return {
            "id": f"msg_{rng.getrandbits(64):016x}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": "tool_use" if blocks[0]["type"] == "tool_use" else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }

    def tokens(self, answer: dict[str, Any]) -> tuple[int, int]:
        usage = answer["usage"]
        return int(usage["input_tokens"]), int(usage["output_tokens"])

    def error(self, plan: _Plan) -> web.Response:
        status = plan.fail or 500
        if plan.bare:
            return web.Response(status=status, text=_REASONS.get(status, "Error"))
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        message = (
            plan.message if plan.message is not None else f"fake {status}: {plan.code or kind}"
        )
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return web.json_response(body, status=status, headers=_error_headers(plan))

    def limit_headers(self, rpm: float, level: float, reset_s: float) -> dict[str, str]:
        return _anthropic_limit_headers(rpm, level, reset_s)


def _anthropic_limit_headers(rpm: float, level: float, reset_s: float) -> dict[str, str]:
    reset = datetime.fromtimestamp(time.time() + reset_s, tz=UTC)
    return {
        "anthropic-ratelimit-requests-limit": _number(rpm),
        "anthropic-ratelimit-requests-remaining": str(max(0, int(level))),
        "anthropic-ratelimit-requests-reset": reset.isoformat().replace("+00:00", "Z"),
    }


def _anthropic_use(name: str, arguments: Any, rng: random.Random) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": f"toolu_{rng.getrandbits(64):016x}",
        "name": name,
        "input": arguments,
    }


_OPENAI = _OpenAIWire()
_ANTHROPIC = _AnthropicWire()


# ---------------------------------------------------------------------- background thread


class ServerThread:
    """A `FakeLLMServer` on its own event loop in a daemon thread.

    Sync tests (the CLI) and async tests (any loop) can both talk to it over HTTP.
    Knobs are plain attributes of `.server`; set them from the test thread.

        with ServerThread() as server:
            server.base_url
    """

    def __init__(self) -> None:
        self.server = FakeLLMServer()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fake-llm-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> FakeLLMServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=30)
        return self.server

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---------------------------------------------------------------------- process mode


async def _serve_forever(args: argparse.Namespace) -> None:
    server = FakeLLMServer(
        host=args.host,
        port=args.port,
        latency_s=args.latency_ms / 1000.0,
        p_429=args.p_429,
        p_500=args.p_500,
        p_hang=args.p_hang,
        seed=args.seed,
        record_bodies=not args.no_record_bodies,
        enforce_rpm=args.enforce_rpm,
        enforce_burst=args.enforce_burst,
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"READY {server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--p-429", type=float, default=0.0)
    parser.add_argument("--p-500", type=float, default=0.0)
    parser.add_argument("--p-hang", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--enforce-rpm", type=float, default=None, help="an undeclared limit")
    parser.add_argument("--enforce-burst", type=float, default=None)
    parser.add_argument(
        "--no-record-bodies", action="store_true", help="keep memory flat on long runs"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

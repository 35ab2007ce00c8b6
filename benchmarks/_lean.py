"""A lean stand-in provider for throughput benchmarks: the least CPU per answer.

    python -m benchmarks._lean          # prints "READY <port> <port>"

On a 2-core machine the provider's stand-in shares the cores it measures: the test server
(`tests.fakeserver`, aiohttp, every knob) spends ~0.35 ms of CPU per request, as much as
redis-server and the starter together. This one answers every `POST .../chat/completions`
at once, over keep-alive HTTP/1.1 written on asyncio's transports, with one OpenAI chat
completion (usage: 20 prompt tokens, 10 completion tokens); it serves the same records as
the test server's benchmark process (`GET /requests`, `POST /_reset`), so
`benchmarks.server.FakeServer(lean=True)` reads it the same way. It has no knobs: a
benchmark that needs latency, faults or limits uses the test server.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

_ANSWER = {
    "id": "chatcmpl-lean",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
}
_MAX_HEAD = 64 * 1024


def _response(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


_ANSWERED = _response(200, json.dumps(_ANSWER).encode())


class _Records:
    """(started, finished, status) per chat request, `time.monotonic()` seconds."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []

    def serve(self, method: str, path: str) -> bytes:
        if path.endswith("/chat/completions") and method == "POST":
            now = time.monotonic()
            self.rows.append([now, now, 200])
            return _ANSWERED
        if path == "/requests":
            return _response(
                200, json.dumps({"now": time.monotonic(), "requests": self.rows}).encode()
            )
        if path == "/_reset":
            self.rows = []
            return _response(200, b'{"ok": true}')
        if path == "/_control":  # nothing to set: the test server has the knobs
            return _response(200, b'{"ok": true}')
        if path == "/health":
            return _response(200, b'{"ok": true}')
        return _response(404, b'{"error": "not found"}')


class _Connection(asyncio.Protocol):
    """Requests on one keep-alive connection, answered in order as they arrive."""

    def __init__(self, records: _Records) -> None:
        self._records = records
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (answer := self._next()) is not None:
            assert self._transport is not None
            self._transport.write(answer)

    def _next(self) -> bytes | None:
        """The answer to the first complete request in the buffer (consumed), or None."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEAD and self._transport is not None:
                self._transport.close()
            return None
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        method, path = [*lines[0].split(" "), "", ""][:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            taken = _chunked_length(self._buffer, start)
            if taken is None:
                return None
            del self._buffer[: start + taken]
        else:
            length = int(headers.get("content-length") or 0)
            if len(self._buffer) < start + length:
                return None
            del self._buffer[: start + length]
        return self._records.serve(method, path.split("?", 1)[0])


def _chunked_length(buffer: bytearray, start: int) -> int | None:
    """Bytes a complete chunked body takes from `start` (its last chunk included), or None."""
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buffer[at:line_end]).split(b";")[0] or b"0", 16)
        at = line_end + 2 + size + 2
        if len(buffer) < at:
            return None
        if size == 0:
            return at - start


async def _main() -> None:
    records = _Records()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(records), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"READY {port} {port}", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(_main())

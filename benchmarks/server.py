"""The fake OpenAI-compatible server, in a process of its own, started by each benchmark.

with FakeServer() as server:
    server.base_url                        # http://127.0.0.1:PORT/v1
    server.control(p_429=0.2, seed=7)      # knobs of tests.fakeserver, over HTTP
    server.stats()                         # count, max_in_flight, statuses
    server.requests()                      # [(started, finished, status)], monotonic s
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from benchmarks.procs import PYTHON, ROOT, child_env, pin, server_cores

# Loopback only, never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server saw it (`time.monotonic()` seconds)."""

    started: float
    finished: float | None
    status: int | None


class FakeServer:
    """`python -m benchmarks._serve` on a free loopback port, stopped on exit; with
    `lean=True`, `benchmarks._lean` (answers only, no knobs, the least CPU per request)."""

    def __init__(self, *, lean: bool = False) -> None:
        self._module = "benchmarks._lean" if lean else "benchmarks._serve"
        self._process: subprocess.Popen[str] | None = None
        self.port = 0
        self._records_port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeServer:
        process = self._process = subprocess.Popen(
            [PYTHON, "-m", self._module],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        pin(process.pid, server_cores())
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if len(line) != 3 or line[0] != "READY":
            self.__exit__(None, None, None)
            raise RuntimeError(f"the fake server did not start (said {line!r})")
        self.port, self._records_port = int(line[1]), int(line[2])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _call(self, port: int, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=data,
            headers={"content-type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with _OPENER.open(request, timeout=30) as response:
            return json.loads(response.read())

    def control(self, **knobs: Any) -> None:
        """Set server knobs (latency_ms, p_429, p_500, p_hang, seed, usage, ...)."""
        self._call(self.port, "/_control", knobs)

    def reset(self) -> None:
        """Back to defaults, records cleared."""
        self._call(self.port, "/_reset", {})
        self.control(record_bodies=False)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call(self.port, "/_stats")
        return result

    def prompts(self) -> list[tuple[float, float | None, int | None, str]]:
        """(started, finished, status, last message) per request; needs record_bodies=True."""
        rows = self._call(self._records_port, "/prompts")["requests"]
        return [(float(s), None if f is None else float(f), st, str(p)) for s, f, st, p in rows]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def requests(self) -> list[Request]:
        rows = self._call(self._records_port, "/requests")["requests"]
        return [Request(float(s), None if f is None else float(f), st) for s, f, st in rows]

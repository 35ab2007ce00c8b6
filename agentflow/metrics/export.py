"""The two ways a run's metrics leave the process, both owned by the runner:

    export = MetricsExport(MetricsSink(...), file=Path("agentflow.prom"), port=9464)
    export.bind()                                    # before any call: a port in use is exit 2
    async with export.running(clock):                # inside the run's event loop
        result = await engine.run(instances)
    # the file is written once more here, with the run's last events
    export.close()

- `file`: the Prometheus text format, written atomically (a temporary file beside it, then a
  rename: node_exporter's textfile collector never reads half a file) every `interval`
  seconds of the injected clock and once more when the run ends.
- `port`: an HTTP/1.1 endpoint on the run's event loop, `GET /metrics` (the text format)
  and `GET /healthz` (`ok`), open from before the first call until the run ends. It runs on
  the loop's thread, so collecting reads the engine's state with nothing running beside it.

A failed write, or a failure to collect, is reported once (`on_error`) and tried again at
the next tick or scrape: the run goes on without its metrics rather than losing its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from agentflow.errors import UsageError
from agentflow.run.clock import Clock
from agentflow.sinks.metrics import MetricsSink

DEFAULT_HOST = "127.0.0.1"
FILE_INTERVAL_S = 15.0
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"

_MAX_HEADER_LINES = 100
_READ_TIMEOUT_S = 10.0


def bind_endpoint(host: str, port: int) -> socket.socket:
    """A listening socket for the endpoint; `UsageError` (exit 2) when it cannot be had."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--metrics-port {port}: a port is 0..65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        return socket.create_server((host, port), family=family)
    except socket.gaierror as exc:
        raise UsageError(
            f"--metrics-host {host}: not an address of this machine ({exc.strerror})"
        ) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"--metrics-port {port}: the port is in use on {host}; choose another port, "
                "or 0 for any free one"
            ) from None
        raise UsageError(
            f"--metrics-host {host} --metrics-port {port}: cannot listen there: "
            f"{exc.strerror or exc}"
        ) from None


def check_metrics_file(path: Path) -> None:
    """`UsageError` when the textfile cannot be written where it is asked for."""
    if path.is_dir():
        raise UsageError(
            f"--metrics-file {path} is a folder; name a file, e.g. {path}/agentflow.prom"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--metrics-file {path}: the folder {parent} does not exist")


def endpoint_url(sock: socket.socket) -> str:
    """Where the endpoint listens, as a URL (the real port when 0 was asked for)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


def _warn(message: str) -> None:
    print(f"agentflow: warning: {message}", file=sys.stderr, flush=True)


class MetricsExport:
    """Writes the textfile and serves the endpoint while `running()`; see the module doc."""

    def __init__(
        self,
        sink: MetricsSink,
        *,
        file: Path | None = None,
        port: int | None = None,
        host: str = DEFAULT_HOST,
        interval: float = FILE_INTERVAL_S,
        on_error: Callable[[str], None] = _warn,
    ) -> None:
        self.sink = sink
        self._exposition = sink.exposition
        self._file = file
        self._port = port
        self._host = host
        self._sock: socket.socket | None = None
        self._interval = interval
        self._on_error = on_error
        self._file_failed = False
        self._collect_failed = False
        self.writes = 0

    def bind(self) -> str:
        """Take the endpoint's port now, before the run; returns its URL. `UsageError` when
        the port is in use or the host is not this machine's."""
        if self._sock is None and self._port is not None:
            self._sock = bind_endpoint(self._host, self._port)
        return endpoint_url(self._sock) if self._sock is not None else ""

    def close(self) -> None:
        """Release the port (the endpoint stops with the run; this is for a run that never
        started)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def write_file(self) -> bool:
        """Write the textfile now (atomically); False when it failed (reported once)."""
        if self._file is None:
            return False
        path = self._file
        # Beside the file (a rename within one filesystem is atomic), a name the textfile
        # collector skips (it reads *.prom), one per process.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        text = self._collected()
        if text is None:
            return False
        try:
            temporary.write_bytes(text)
            temporary.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            if not self._file_failed:
                self._file_failed = True
                self._on_error(
                    f"could not write --metrics-file {path}: {exc.strerror or exc}; "
                    "the run goes on and tries again"
                )
            return False
        self.writes += 1
        return True

    def _collected(self) -> bytes | None:
        """The text format now; None (reported once) if collecting failed: a bug in the
        metrics must not take the run down with it."""
        try:
            return self._exposition()
        except Exception as exc:
            if not self._collect_failed:
                self._collect_failed = True
                self._on_error(f"collecting the metrics failed: {type(exc).__name__}: {exc}")
            return None

    @contextlib.asynccontextmanager
    async def running(self, clock: Clock) -> AsyncIterator[None]:
        """Serve and rewrite for as long as the body runs; write the file once more after."""
        server = None
        if self._port is not None:
            self.bind()
            server = await asyncio.start_server(self._serve, sock=self._sock)
        try:
            async with asyncio.TaskGroup() as group:
                ticker = group.create_task(self._rewrite(clock)) if self._file else None
                try:
                    yield
                finally:
                    if ticker is not None:
                        ticker.cancel()
        finally:
            if server is not None:
                server.close()
                self._sock = None  # closed with the server
            self.write_file()

    async def _rewrite(self, clock: Clock) -> None:
        while True:
            await clock.sleep(self._interval)
            self.write_file()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):
                request = await reader.readline()
                for _ in range(_MAX_HEADER_LINES):
                    if (await reader.readline()).strip() == b"":
                        break
            parts = request.decode("latin-1").split()
            method = parts[0] if parts else ""
            path = parts[1].split("?", 1)[0] if len(parts) > 1 else ""
            status, body, kind = self._answer(method, path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a client that went away or sent nonsense: nothing to answer
        finally:
            writer.close()

    def _answer(self, method: str, path: str) -> tuple[str, bytes, str]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", b"only GET\n", "text/plain; charset=utf-8"
        if path == "/metrics":
            text = self._collected()
            if text is None:
                return "500 Internal Server Error", b"collecting failed\n", "text/plain"
            return "200 OK", text, TEXT_FORMAT
        if path == "/healthz":
            return "200 OK", b"ok\n", "text/plain; charset=utf-8"
        return "404 Not Found", b"try /metrics or /healthz\n", "text/plain; charset=utf-8"

"""A real `redis-server` for the tests, on a free loopback port, persistence off.

    with RedisServer.start() as server:     # or the `redis_server` fixture (tests/conftest.py)
        server.url                          # "redis://127.0.0.1:PORT/0"
        server.stop()                       # the "Redis went away" failure mode
        server.restart()                    # same port, empty data

The Debian package is installed once (tests/system_tools.py) when the binary is missing;
`.ci/run` installs it up front. Tests that need Redis skip only where it can be neither
found nor installed.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Self

from tests.system_tools import ensure_tool

_READY_TIMEOUT_S = 10.0


def redis_server_binary() -> str | None:
    """The redis-server binary, installing the Debian package if it is missing."""
    return ensure_tool("redis-server", "redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class RedisServer:
    """One redis-server process owned by the test that started it."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self._dir = tempfile.TemporaryDirectory(prefix="agentflow-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, binary: str | None = None) -> Self:
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError("redis-server is not installed and cannot be installed here")
        server = cls(found, free_port())
        server._launch()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _launch(self) -> None:
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """Send one command (RESP) and return the raw reply (for set-up and assertions)."""
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as sock:
            sock.sendall(b"".join(parts))
            return sock.recv(65536)

    def flush(self) -> None:
        self.command("FLUSHALL")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the server (the port closes); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        self.stop()
        self._launch()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

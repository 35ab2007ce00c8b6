"""The textfile (virtual time: every 15 s, atomic, once more at the end) and the endpoint
(real HTTP on loopback while the body runs, gone after)."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest

from agentflow.errors import UsageError
from agentflow.events.types import Event
from agentflow.metrics.export import MetricsExport, bind_endpoint, check_metrics_file
from agentflow.run.clock import run_virtual, virtual_clock
from agentflow.sinks.metrics import MetricsSink

STARTED = 'agentflow_workflows_started_total{workflow="wf"}'


def started(sink: MetricsSink, n: int) -> None:
    for i in range(n):
        sink.handle(Event("workflow.started", 0.0, "r", i + 1, "wf", i))


def line(text: str, prefix: str) -> str:
    return next(row for row in text.splitlines() if row.startswith(prefix))


def test_the_textfile_is_rewritten_every_15_s_of_the_clock_and_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "agentflow.prom"
    sink = MetricsSink()
    export = MetricsExport(sink, file=path)
    seen: dict[float, str] = {}

    async def main() -> None:
        clock = virtual_clock()
        async with export.running(clock):
            started(sink, 1)
            await clock.sleep(16)
            seen[16] = path.read_text()
            started(sink, 2)
            await clock.sleep(10)  # t=26: no write since 15
            seen[26] = path.read_text()
            await clock.sleep(5)  # t=31: the write at 30 saw 3
            seen[31] = path.read_text()
            started(sink, 4)
        # after the body: the last state, at once

    run_virtual(main())
    assert line(seen[16], STARTED) == f"{STARTED} 1.0"
    assert line(seen[26], STARTED) == f"{STARTED} 1.0"
    assert line(seen[31], STARTED) == f"{STARTED} 3.0"
    assert line(path.read_text(), STARTED) == f"{STARTED} 7.0"
    assert export.writes == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agentflow.prom"]  # no temp left


def test_a_textfile_that_cannot_be_written_is_reported_once_and_tried_again(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "textfiles"
    folder.mkdir()
    path = folder / "agentflow.prom"
    warnings: list[str] = []
    sink = MetricsSink()
    export = MetricsExport(sink, file=path, on_error=warnings.append)

    async def main() -> None:
        clock = virtual_clock()
        async with export.running(clock):
            folder.rmdir()
            await clock.sleep(50)  # three failed writes
            folder.mkdir()
            started(sink, 1)

    run_virtual(main())
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "the run goes on" in warnings[0]
    assert line(path.read_text(), STARTED) == f"{STARTED} 1.0"


def test_check_metrics_file_refuses_a_missing_folder_and_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        check_metrics_file(tmp_path / "nowhere" / "m.prom")
    with pytest.raises(UsageError, match="is a folder"):
        check_metrics_file(tmp_path)
    check_metrics_file(tmp_path / "m.prom")


async def _get(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    return status, headers, body


def test_the_endpoint_serves_metrics_and_health_while_the_body_runs_and_stops_after() -> None:
    sink = MetricsSink()
    export = MetricsExport(sink, port=0)
    url = export.bind()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert url == f"http://127.0.0.1:{port}/metrics"
    answers: dict[str, tuple[str, dict[str, str], bytes]] = {}

    async def main() -> None:
        from agentflow.run.clock import SystemClock

        async with export.running(SystemClock()):
            started(sink, 2)
            answers["metrics"] = await _get(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            answers["health"] = await _get(port, b"GET /healthz HTTP/1.0\r\n\r\n")
            answers["other"] = await _get(port, b"GET /admin HTTP/1.1\r\n\r\n")
            answers["post"] = await _get(port, b"POST /metrics HTTP/1.1\r\n\r\n")
            answers["head"] = await _get(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        with pytest.raises(OSError):
            await _get(port, b"GET /healthz HTTP/1.1\r\n\r\n")

    asyncio.run(main())
    status, headers, body = answers["metrics"]
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert int(headers["content-length"]) == len(body)
    assert f"{STARTED} 2.0" in body.decode()
    assert answers["health"][0] == "HTTP/1.1 200 OK" and answers["health"][2] == b"ok\n"
    assert answers["other"][0] == "HTTP/1.1 404 Not Found"
    assert answers["post"][0] == "HTTP/1.1 405 Method Not Allowed"
    assert answers["head"][0] == "HTTP/1.1 200 OK" and answers["head"][2] == b""


def test_a_port_in_use_is_a_usage_error_naming_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=rf"--metrics-port {port}: the port is in use"):
            bind_endpoint("127.0.0.1", port)
        export = MetricsExport(MetricsSink(), port=port)
        with pytest.raises(UsageError):
            export.bind()
        export.close()


def test_a_host_that_is_not_this_machine_is_a_usage_error() -> None:
    # 192.0.2.1 is TEST-NET-1: never an address of this machine, and no lookup needed.
    with pytest.raises(UsageError, match=re.escape("--metrics-host 192.0.2.1 --metrics-port 0:")):
        bind_endpoint("192.0.2.1", 0)


def test_metrics_that_fail_to_collect_never_stop_the_run(tmp_path: Path) -> None:
    def broken() -> None:
        raise RuntimeError("no statistics")

    sink = MetricsSink(statistics=broken)
    warnings: list[str] = []
    export = MetricsExport(sink, file=tmp_path / "m.prom", port=0, on_error=warnings.append)
    port = int(export.bind().rsplit(":", 1)[1].split("/")[0])
    answers: list[str] = []

    async def main() -> str:
        from agentflow.run.clock import SystemClock

        async with export.running(SystemClock()):
            answers.append((await _get(port, b"GET /metrics HTTP/1.1\r\n\r\n"))[0])
            answers.append((await _get(port, b"GET /healthz HTTP/1.1\r\n\r\n"))[0])
            return "the run went on"

    assert asyncio.run(main()) == "the run went on"
    assert answers == ["HTTP/1.1 500 Internal Server Error", "HTTP/1.1 200 OK"]
    assert warnings == ["collecting the metrics failed: RuntimeError: no statistics"]
    assert not (tmp_path / "m.prom").exists()

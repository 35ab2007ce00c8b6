"""The fake server process of the benchmarks: `tests.fakeserver` plus a record endpoint.

    python -m benchmarks._serve          # prints "READY <api port> <records port>"

The test server keeps every request's arrival and finish time but serves only counts;
rate-limit benchmarks need the times, so a second small app, on a port of its own,
serves them: `GET /requests` -> {"now": t, "requests": [[started, finished, status], ...]}
in `time.monotonic()` seconds (CLOCK_MONOTONIC, shared by every process on the machine);
`GET /prompts` adds each request's last message (with `record_bodies` on).
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from tests.fakeserver import FakeLLMServer


def _records_app(server: FakeLLMServer) -> web.Application:
    async def requests(request: web.Request) -> web.Response:
        import time

        rows = [[r.started, r.finished, r.status] for r in server.requests]
        return web.json_response({"now": time.monotonic(), "requests": rows})

    async def prompts(request: web.Request) -> web.Response:
        # Which prompt each request carried (with record_bodies on): who asked what twice.
        rows = [
            [r.started, r.finished, r.status, str((r.body.get("messages") or [{}])[-1])]
            for r in server.requests
        ]
        return web.json_response({"requests": rows})

    app = web.Application()
    app.router.add_get("/requests", requests)
    app.router.add_get("/prompts", prompts)
    return app


async def _main() -> None:
    server = FakeLLMServer(record_bodies=False)
    await server.start()
    runner = web.AppRunner(_records_app(server), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    records_port = int(runner.addresses[0][1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"READY {server.port} {records_port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await server.stop()


if __name__ == "__main__":
    asyncio.run(_main())

"""SIGINT and SIGTERM from process start to exit: stop before any further call, exit 130/143.

The entry points call `install()` first thing, before any heavy import, so a signal never
meets Python's defaults (SIGTERM killing the process outright, SIGINT a traceback). What a
signal does depends on the phase of the process:

    starting   nothing was sent and no log exists: say so and exit at once
    running    recorded; the engine stops on it (inside the event loop, the loop's own
               handler calls `Engine.request_stop`; before the loop, the engine is told as
               soon as it exists, and then starts nothing)
    finishing  the run is over and its log complete: recorded, the exit code becomes 130/143
    exiting    after the command returned: flush the streams and exit at once

    signals.install()                   # agentflow/__main__.py, cli.app.main()
    signals.running()                   # run_cmd, just before the engine runs
    name = signals.received()           # a signal that came before the loop listened
    signals.finishing()                 # after the run; re-arms the handler the loop removed
    code = signals.exit_code(code)      # 130/143 if a signal came, else `code`

Only the standard library is imported here: this module runs before everything else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Literal

Phase = Literal["starting", "running", "finishing", "exiting"]

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
_SIGNALS = ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM"))

_installed = False
_phase: Phase = "starting"
_received: str | None = None


def install() -> None:
    """Handle SIGINT and SIGTERM from now on (main thread only; a no-op elsewhere)."""
    global _installed, _phase
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, _ in _SIGNALS:
        signal.signal(signum, _handle)
    _installed = True
    _phase = "starting"


def installed() -> bool:
    """True when `install()` took effect (the CLI entry point, not a test calling a command)."""
    return _installed


def received() -> str | None:
    """The first signal received ("SIGINT" or "SIGTERM"), or None."""
    return _received


def record(name: str) -> None:
    """Note a signal another handler took (the event loop's), so the exit code tells it."""
    global _received
    if _received is None and name in EXIT_CODES:
        _received = name


def running() -> None:
    """From now on a signal is recorded for the engine instead of ending the process."""
    _enter("running")


def finishing() -> None:
    """The run is over: re-arm the handler (the event loop removed its own) and record."""
    if _installed and threading.current_thread() is threading.main_thread():
        for signum, _ in _SIGNALS:
            signal.signal(signum, _handle)
    _enter("finishing")


def exiting() -> None:
    """The command returned: a signal now flushes the streams and ends the process."""
    _enter("exiting")


def exit_code(code: int) -> int:
    """130/143 when a signal came (the last word on how the process ends), else `code`."""
    return EXIT_CODES.get(_received, code) if _received else code


def _enter(phase: Phase) -> None:
    global _phase
    if _installed:
        _phase = phase


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received
    name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
    if _received is None:
        _received = name
    if _phase == "starting":
        _say(f"agentflow: stopped by {name}\n")
        os._exit(EXIT_CODES[name])
    if _phase == "exiting":
        _flush()
        os._exit(EXIT_CODES[_received])


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed: the exit code still tells
        sys.stderr.write(text)
    _flush()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()

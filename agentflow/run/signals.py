"""SIGINT and SIGTERM from process start to exit: stop before any further call, exit 130/143.

The entry points call `install()` first thing, before any heavy import, so a signal never
meets Python's defaults (SIGTERM killing the process outright, SIGINT a traceback), and the
one handler stays until the process ends. What a signal does depends on the phase:

    starting   nothing was sent and no log exists: say so and exit at once
    running    recorded, and passed to the run's callback (which asks the event loop to stop
               the engine); one that came before the callback is read with `received()`
    finishing  the run is over and its log complete: recorded, the exit code becomes 130/143
    exiting    the command returned: flush the streams and exit at once

    signals.install()                   # agentflow/__main__.py, cli.app.main()
    signals.running(on_signal)          # run/launch.py, inside the event loop, before the engine
    name = signals.received()           # a signal that came before that
    signals.finishing()                 # after the run
    signals.exit_now(code)              # main(): 130/143 if a signal came, else `code`

The event loop's own `add_signal_handler` is not used for the run: a signal it takes while
the loop winds down is lost with the loop, and removing it leaves the default (killing)
action behind.

Only the standard library is imported here: this module runs before everything else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Literal

Phase = Literal["starting", "running", "finishing", "exiting"]

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
_SIGNALS = ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM"))

_installed = False
_phase: Phase = "starting"
_received: str | None = None
_on_signal: Callable[[str], None] | None = None


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


def running(on_signal: Callable[[str], None] | None = None) -> None:
    """From now on a signal is recorded, and given to `on_signal`, instead of ending the
    process. `on_signal` runs inside the signal handler: it must only schedule work."""
    global _on_signal
    if _installed:
        _on_signal = on_signal
    _enter("running")


def finishing() -> None:
    """The run is over: a signal is only recorded (it still decides the exit code)."""
    global _on_signal
    _on_signal = None
    _enter("finishing")


def exiting() -> None:
    """The command returned: a signal now flushes the streams and ends the process."""
    _enter("exiting")


def exit_now(code: int) -> None:
    """End the process with `code` (130/143 if a signal came), skipping the interpreter's
    teardown.

    By now the command has flushed and closed what it wrote (the log is fsync'ed, `-o`
    written); what is left is unloading LiteLLM's modules and joining its threads, up to a
    second in which a signal could not be answered, only kill the process.
    """
    exiting()
    _flush()
    os._exit(exit_code(code))


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
    if _phase == "running" and _on_signal is not None:
        with contextlib.suppress(Exception):  # the signal is recorded whatever happens
            _on_signal(name)
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
            # A redacting stream holds back a tail that could start a secret: write it all.
            getattr(stream, "drain", stream.flush)()

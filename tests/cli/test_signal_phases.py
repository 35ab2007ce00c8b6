"""What a signal does at each phase of the process (agentflow.cli.signals), in small
interpreters of their own: no litellm import, so each costs a few hundredths of a second."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import os, signal, sys, time
from agentflow.cli import signals
signals.install()
def kill(name):
    os.kill(os.getpid(), getattr(signal, name))
    time.sleep(0.05)  # the handler runs between bytecodes of the main thread
"""


def run(body: str) -> subprocess.CompletedProcess[str]:
    code = PRELUDE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_while_starting_ends_the_process_at_once_without_a_traceback(
    name: str, code: int
) -> None:
    done = run(f"kill({name!r})\nprint('still running')\n")
    assert done.returncode == code
    assert "still running" not in done.stdout
    assert done.stderr == f"agentflow: stopped by {name}\n"


def test_a_signal_while_running_is_recorded_for_the_engine_and_the_process_goes_on() -> None:
    done = run("signals.running()\nkill('SIGTERM')\nprint(signals.received())\n")
    assert (done.returncode, done.stdout) == (0, "SIGTERM\n")


def test_a_signal_after_the_run_still_decides_the_exit_code() -> None:
    # The event loop removed its own handler (leaving the default, which kills): finishing()
    # puts the recording one back.
    done = run(
        """
        signals.running()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signals.finishing()
        kill('SIGINT')
        print('rendered the summary')
        sys.exit(signals.exit_code(0))
        """
    )
    assert (done.returncode, done.stdout) == (130, "rendered the summary\n")


def test_a_signal_while_exiting_flushes_and_ends_the_process() -> None:
    done = run("signals.exiting()\nprint('last words', flush=False)\nkill('SIGTERM')\n")
    assert (done.returncode, done.stdout) == (143, "last words\n")


def test_the_first_signal_is_the_one_that_counts() -> None:
    done = run(
        "signals.running()\nkill('SIGINT')\nkill('SIGTERM')\nsys.exit(signals.exit_code(0))\n"
    )
    assert done.returncode == 130


def test_the_signal_module_imports_nothing_heavy() -> None:
    done = run(
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'litellm', 'agentflow')))\n"
    )
    assert done.stdout.strip() == "['agentflow', 'agentflow.cli', 'agentflow.cli.signals']"

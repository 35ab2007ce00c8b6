"""What a signal does at each phase of the process (agentflow.run.signals), in small
interpreters of their own: no litellm import, so each costs a few hundredths of a second."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import os, signal, sys, time
from agentflow.run import signals
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


def test_a_signal_while_running_goes_to_the_run_and_the_process_goes_on() -> None:
    done = run(
        """
        signals.running(lambda name: print("stop the engine:", name))
        kill('SIGTERM')
        print(signals.received())
        """
    )
    assert (done.returncode, done.stdout) == (0, "stop the engine: SIGTERM\nSIGTERM\n")


def test_a_signal_after_the_run_still_decides_the_exit_code() -> None:
    done = run(
        """
        signals.running(lambda name: print("too late to stop anything"))
        signals.finishing()
        kill('SIGINT')
        print('rendered the summary')
        signals.exit_now(0)
        """
    )
    assert (done.returncode, done.stdout) == (130, "rendered the summary\n")


def test_a_signal_while_exiting_flushes_and_ends_the_process() -> None:
    done = run("signals.exiting()\nprint('last words', flush=False)\nkill('SIGTERM')\n")
    assert (done.returncode, done.stdout) == (143, "last words\n")


def test_without_a_signal_the_command_s_exit_code_stands() -> None:
    done = run(
        "signals.running()\nsignals.finishing()\nprint('done', flush=False)\nsignals.exit_now(4)\n"
    )
    assert (done.returncode, done.stdout) == (4, "done\n")


def test_the_first_signal_is_the_one_that_counts() -> None:
    done = run("signals.running()\nkill('SIGINT')\nkill('SIGTERM')\nsignals.exit_now(0)\n")
    assert done.returncode == 130


def test_the_signal_module_imports_nothing_heavy() -> None:
    done = run(
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'litellm', 'agentflow')))\n"
    )
    assert done.stdout.strip() == "['agentflow', 'agentflow.run', 'agentflow.run.signals']"

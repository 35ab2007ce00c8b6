"""Processes: the environment, CPU placement and timing of everything the benchmarks start.

On a machine with two or more cores the fake server gets the last core and everything
measured (the CLI, the workers) the others, so the server never steals the engine's CPU.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
AGENTFLOW = str(Path(PYTHON).with_name("agentflow"))
DUMMY_KEY = "sk-benchmark-dummy-key"


def _cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def server_cores() -> set[int] | None:
    cores = _cores()
    return {cores[-1]} if len(cores) >= 2 else None


def measured_cores() -> set[int] | None:
    cores = _cores()
    return set(cores[:-1]) if len(cores) >= 2 else None


def pin(pid: int, cores: set[int] | None) -> None:
    if cores is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, cores)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: a dummy key, loopback never proxied, local cost map."""
    env = dict(os.environ)
    env.update(
        {
            "OPENAI_API_KEY": DUMMY_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command: its argv, exit code, wall and CPU time (user + system), output."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    cpu_s: float
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(
    argv: Sequence[str], *, cwd: Path = ROOT, timeout: float = 600.0, pinned: bool = True
) -> Completed:
    """Run a command to the end (pinned to the measured cores) and time it from spawn to exit."""
    cores = measured_cores() if pinned else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: pin(0, cores)) if cores else None,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise RuntimeError(f"timed out after {timeout:g}s: {' '.join(argv)}") from None
    wall = time.perf_counter() - started
    # Children are reaped one at a time here (the fake server lives on), so the
    # difference is this command's own CPU time.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Completed(tuple(argv), process.returncode, wall, cpu, stdout, stderr)


def worker(task: str, args: Mapping[str, Any], *, timeout: float = 600.0) -> dict[str, Any]:
    """Run `python -m benchmarks.worker TASK ARGS` in a fresh process; its JSON answer."""
    done = run([PYTHON, "-m", "benchmarks.worker", task, json.dumps(args)], timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"worker {task} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def command_line(argv: Sequence[str]) -> str:
    """How a command is shown in the report: paths relative to the repository."""
    shown = []
    for part in argv:
        text = str(part)
        if text == PYTHON:
            text = ".venv/bin/python"
        elif text == AGENTFLOW:
            text = ".venv/bin/agentflow"
        shown.append(text)
    return " ".join(shown)

"""Run the real `agentflow` CLI in a subprocess and read what it leaves behind.

Every helper here starts a fresh interpreter (`python -m agentflow`), so each call pays the
litellm import (~2.5 s): tests group their assertions into as few runs as they can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakeserver import FakeLLMServer, Recorded

RUN_TIMEOUT_S = 90.0
OPENAI_KEY = "sk-test-SECRET123456789"
ANTHROPIC_KEY = "sk-ant-test-SECRET987654321"
# Variables of the caller's shell that would change what the CLI prints.
_DROPPED = ("COLUMNS", "LINES", "FORCE_COLOR", "TERM", "CLICOLOR_FORCE", "AGENTFLOW_DEBUG")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a scripted run: dummy keys, no colour, a local cost map."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _DROPPED and not k.endswith("_API_KEY") and not k.startswith("LITELLM_")
    }
    env.update(
        OPENAI_API_KEY=OPENAI_KEY,
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        NO_COLOR="1",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def cli_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "agentflow", *map(str, args)]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one finished CLI process left: exit code, both streams, and its run log."""

    returncode: int
    stdout: str
    stderr: str
    log_path: Path | None

    def events(self) -> list[dict[str, Any]]:
        assert self.log_path is not None, "this run has no log"
        return read_log(self.log_path)

    def describe(self) -> str:
        """Enough of the run to understand a failed assertion."""
        return f"exit {self.returncode}\n--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"


class Started:
    """A CLI process started with `start_cli`; `finish()` waits for it (with a timeout)."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        log_path: Path | None,
        env: dict[str, str],
        log_dir: str = "logs",
    ) -> None:
        self.cwd = cwd
        self.log_path = log_path
        self.log_dir = log_dir
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> Outcome:
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        finally:
            self.kill()
        log = self.log_path or _only_log(self.cwd / self.log_dir)
        return Outcome(self.process.returncode, stdout, stderr, log)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def start_cli(
    *args: str | Path,
    cwd: Path,
    run_id: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Started:
    """Start `agentflow run ARGS --log-dir <cwd>/logs [--run-id ID]` without waiting."""
    argv: list[str | Path] = ["run", *args, "--log-dir", cwd / "logs"]
    if run_id is not None:
        argv += ["--run-id", run_id]
    log = cwd / "logs" / f"{run_id}.jsonl" if run_id else None
    return Started(cli_command(*argv), cwd, log, dict(env) if env is not None else cli_env())


def run_cli(
    *args: str | Path,
    cwd: Path,
    run_id: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> Outcome:
    """`agentflow run ARGS --log-dir <cwd>/logs [--run-id ID]`, waited for with a timeout."""
    return start_cli(*args, cwd=cwd, run_id=run_id, env=env).finish(timeout)


def _only_log(folder: Path) -> Path | None:
    logs = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return logs[0] if len(logs) == 1 else None


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every line of a run log, parsed; a line that is not JSON fails the test."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def of(events: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def write_workflow(folder: Path, document: Mapping[str, Any], name: str = "flow.yaml") -> Path:
    """Write a workflow as YAML (JSON is YAML 1.2), with the format version filled in."""
    path = folder / name
    path.write_text(json.dumps({"version": 1, **document}, indent=2) + "\n", encoding="utf-8")
    return path


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def answered(server: FakeLLMServer) -> list[Recorded]:
    """The requests the server answered with a 200, in arrival order."""
    return [r for r in list(server.requests) if r.status == 200]


def request_text(record: Recorded) -> str:
    return json.dumps(record.body.get("messages"), default=str)


def by_marker(records: Sequence[Recorded], marker: str) -> list[Recorded]:
    """The recorded requests whose messages mention `marker` (an agent's tag in its prompt)."""
    return [r for r in records if marker in request_text(r)]


def schema_errors(validator: Any, events: Sequence[dict[str, Any]]) -> list[str]:
    """One line per schema violation: `seq event: message at path`."""
    problems = []
    for event in events:
        for error in validator.iter_errors(event):
            where = "/".join(map(str, error.absolute_path))
            problems.append(f"#{event.get('seq')} {event.get('event')}: {error.message} at {where}")
    return problems

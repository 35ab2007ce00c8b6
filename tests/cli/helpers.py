"""Run the CLI in-process with stable paths, and split its streams."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow.cli.app import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "workflows").glob("*.yaml"))
CORPUS = REPO / "tests" / "corpus" / "invalid"


@dataclass(frozen=True, slots=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def invoke(args: list[str]) -> Result:
    """`agentflow ARGS` in this process; the caller decides the working directory."""
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work from the repository root with plain, uncoloured output."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

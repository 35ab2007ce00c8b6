"""The CLI and format references stay true: every flag documented, the full example valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from agentflow.cli.app import app
from agentflow.core import analyze

from .helpers import REPO

CLI_DOC = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
FORMAT_DOC = (REPO / "docs" / "workflow-format.md").read_text(encoding="utf-8")
ROOT = typer.main.get_command(app)
COMMANDS = sorted(ROOT.commands)  # type: ignore[attr-defined]


def test_every_command_has_a_section() -> None:
    assert COMMANDS == [
        "cache",
        "graph",
        "plan",
        "resume",
        "retry",
        "run",
        "runs",
        "schema",
        "validate",
    ]
    for name in COMMANDS:
        assert f"\n## {name}\n" in CLI_DOC
        assert f"agentflow {name} " in CLI_DOC


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_documented(name: str) -> None:
    command = ROOT.commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        for flag in param.opts:
            if flag.startswith("-") and flag not in ("-h", "--help"):
                assert f"`{flag}" in CLI_DOC, f"{name} {flag}"


def test_every_documented_exit_code_is_in_the_table() -> None:
    table = CLI_DOC.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE) == [
        "0", "1", "2", "3", "4", "130", "143",
    ]  # fmt: skip


def test_the_complete_example_validates(tmp_path: Path) -> None:
    section = FORMAT_DOC.split("## A complete example", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert example is not None
    path = tmp_path / "example.yaml"
    path.write_text(example.group(1), encoding="utf-8")
    result = analyze(path)
    assert result.diagnostics == ()
    assert result.workflow is not None
    assert len(result.workflow.agents) == 4


def test_every_schema_key_is_documented() -> None:
    import json

    schema = json.loads((REPO / "schemas" / "workflow.schema.json").read_text())
    keys = set(schema["properties"]) | set(schema["$defs"]["agent"]["properties"])
    keys |= set(schema["$defs"]["retry"]["properties"]) | set(
        schema["$defs"]["budget"]["properties"]
    )
    keys |= set(schema["$defs"]["limit"]["properties"]) | set(
        schema["$defs"]["defaults"]["properties"]
    )
    missing = sorted(k for k in keys if f"`{k}`" not in FORMAT_DOC)
    assert missing == []

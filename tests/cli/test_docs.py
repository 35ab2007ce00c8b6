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
        "init",
        "plan",
        "report",
        "resume",
        "retry",
        "run",
        "runs",
        "schema",
        "tools",
        "validate",
        "worker",
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
    keys |= set(schema["$defs"]["mcp_server"]["properties"])
    missing = sorted(k for k in keys if f"`{k}`" not in FORMAT_DOC)
    assert missing == []


# `pip install agentflow`, `pipx install agentflow==1.0`, `uv pip install "agentflow[x]"`: the
# bare name resolves to an unrelated project on the package index. A path, a URL or a wheel
# file (`./agentflow`, `org/agentflow@v1`, `dist/agentflow-0.1.0-...whl`) is fine.
INDEX_INSTALL = re.compile(
    r"\b(?:pip|pipx|uv pip|uv tool)\s+install\b[^\n`]*?(?<![\w/.@+:-])[\"']?agentflow"
    r"(?:\[[^\]]*\])?(?:[=<>~!]=?[\w.*]+)?(?=[\s\"'`)]|$)",
    flags=re.IGNORECASE,
)


def _user_docs() -> list[Path]:
    return [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        REPO / "workflows" / "README.md",
    ]


def test_the_index_pattern_tells_the_name_from_paths_and_urls() -> None:
    for bad in (
        "pip install agentflow",
        'pipx install "agentflow==0.1"',
        "pip install -U agentflow[dev]",
    ):
        assert INDEX_INSTALL.search(bad), bad
    for good in (
        "pip install .",
        "pip install ./agentflow",
        "pip install dist/agentflow-0.1.0-py3-none-any.whl",
        'pip install "git+https://github.com/org/agentflow@v0.1.0"',
        "pip install agentflow-tools",
    ):
        assert not INDEX_INSTALL.search(good), good


def test_no_doc_installs_agentflow_by_name_from_the_package_index() -> None:
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in _user_docs()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if INDEX_INSTALL.search(line)
    ]
    assert found == []


def test_the_readme_and_make_demo_say_how_to_reach_the_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert ". .venv/bin/activate" in readme and "pipx install ." in readme
    demo = (
        (REPO / "Makefile").read_text(encoding="utf-8").split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    )
    assert "bin/activate" in demo and "not on your PATH" in demo


def test_the_run_id_rule_is_documented_as_enforced() -> None:
    from agentflow.values import RUN_ID_PATTERN

    assert f"`^{RUN_ID_PATTERN.pattern}$`" in CLI_DOC

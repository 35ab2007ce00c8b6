"""CLI conventions: readable help with examples, completion, `-V`; `validate` on real trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow import __version__

from .helpers import REPO, invoke

COMMANDS = ("validate", "plan", "run", "graph", "schema", "init")
VALID = (REPO / "workflows" / "hr_onboarding.yaml").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_readable_metavars_and_examples(command: str) -> None:
    result = invoke([command, "--help"])
    assert result.exit_code == 0
    text = result.stdout
    for unreadable in ("<list[", "<bool>", "<path>", "<float>", "<str>", "{files}", "{paths}"):
        assert unreadable not in text, (command, unreadable)
    assert "Examples" in text
    assert f"$ agentflow {command}" in text


def test_run_help_names_each_value_by_what_it_is() -> None:
    text = invoke(["run", "--help"]).stdout
    assert "Usage: agentflow run [OPTIONS] FILE..." in text
    for flag, metavar in (
        ("--budget-usd", "USD"),
        ("--mock-latency", "SECONDS"),
        ("--max-concurrency", "N"),
        ("--max-workflows", "N"),
        ("--log-dir", "DIR"),
        ("--run-id", "ID"),
        ("--output", "FILE"),
        ("--inputs", "FILE"),
        ("--input", "NAME=VALUE"),
    ):
        row = next(line for line in text.splitlines() if f"{flag} " in line)
        assert f" {metavar} " in row, row


def test_validate_help_shows_exclude_and_stdin() -> None:
    text = invoke(["validate", "--help"]).stdout
    assert "Usage: agentflow validate [OPTIONS] PATH..." in text
    assert "--exclude" in text and "GLOB" in text
    assert "- reads one file from stdin" in text


def test_completion_and_short_version_are_switched_on() -> None:
    root = invoke(["--help"]).stdout
    assert "--install-completion" in root and "--show-completion" in root
    assert "<bool>" not in root
    for flag in ("-V", "--version"):
        result = invoke([flag])
        assert (result.exit_code, result.stdout) == (0, f"agentflow {__version__}\n")


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "flows"
    (root / "drafts").mkdir(parents=True)
    for name in ("a.yaml", "b.yml", "drafts/wip.yaml"):
        (root / name).write_text(VALID.replace("name: hr_onboarding", f"name: f_{len(name)}"))
    (root / "link.yaml").symlink_to(root / "a.yaml")
    return root


def _validated(args: list[str], stdin: str | None = None) -> list[str]:
    from typer.testing import CliRunner

    from agentflow.cli.app import app

    result = CliRunner().invoke(app, ["validate", "-f", "json", *args], input=stdin)
    assert result.exit_code in (0, 2), result.output
    return [f["path"] for f in json.loads(result.stdout)["files"]]


def test_validate_lists_a_file_reached_twice_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    monkeypatch.chdir(REPO / "workflows")  # so the tools the example names are found
    # the folder finds a.yaml, b.yml, drafts/wip.yaml and link.yaml (-> a.yaml); then
    # a.yaml again by name, and through a path with `..` in it
    paths = _validated([str(root), str(root / "a.yaml"), str(root / "drafts" / ".." / "b.yml")])
    assert paths == [str(root / p) for p in ("a.yaml", "b.yml", "drafts/wip.yaml")]


def test_validate_exclude_skips_matching_files_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    monkeypatch.chdir(REPO / "workflows")
    assert _validated([str(root), "--exclude", "drafts", "--exclude", "*.yml"]) == [
        str(root / "a.yaml")
    ]
    assert _validated([str(root), "--exclude", "drafts/*"]) == [
        str(root / "a.yaml"),
        str(root / "b.yml"),
    ]
    result = invoke(["validate", str(root / "a.yaml"), "--exclude", "*.yaml"])
    assert result.exit_code == 2
    assert "error: every workflow file was left out by --exclude" in result.stderr


def test_validate_reads_stdin_and_reports_stdin_positions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO / "workflows")
    broken = "version: 1\nname: x\nagents:\n  a:\n    prompt: hi\n    modle: m\n"
    from typer.testing import CliRunner

    from agentflow.cli.app import app

    result = CliRunner().invoke(app, ["validate", "-"], input=broken)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "<stdin>:6:5: error: unknown key 'modle' in agent 'a'; did you mean 'model'?"
    )
    assert _validated(["-"], stdin=VALID) == ["<stdin>"]
    github = CliRunner().invoke(app, ["validate", "-f", "github", "-"], input=broken)
    assert github.stdout.startswith("::error file=<stdin>,line=6,col=5,")


def test_shell_completion_completes_command_names() -> None:
    import subprocess
    import sys

    # What bash's completion function asks the program when the user presses TAB.
    script = "import sys; sys.argv[0] = 'agentflow'; from agentflow.cli.app import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "_AGENTFLOW_COMPLETE": "complete_bash",
            "COMP_WORDS": "agentflow va",
            "COMP_CWORD": "1",
        },
    )
    assert result.stdout.split() == ["validate"], result.stderr

"""`agentflow init`: every shipped template validates and runs with --mock where it lands,
and an existing file is never overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agentflow.scaffold import SCHEMA_ID, list_templates
from tests.e2e.cli import cli_command, cli_env

from .helpers import REPO, invoke
from .test_wheel import _build_wheel

NAMES = [t.name for t in list_templates()]


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_list_names_the_blank_template_and_the_four_examples(plain: Path) -> None:
    result = invoke(["init", "--list"])
    assert result.exit_code == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert listed == ["blank", "hr", "finance", "inventory", "compliance"]
    assert not list(plain.iterdir()), "--list writes nothing"


def test_every_template_validates_and_runs_with_mock_in_a_fresh_folder(plain: Path) -> None:
    for name in NAMES:
        result = invoke(["init", name, name])
        assert result.exit_code == 0, result.stderr
        assert f"agentflow run {name}/" in result.stdout
    workflows = sorted(plain.glob("*/*.yaml"))
    assert [p.parent.name for p in workflows] == sorted(NAMES)
    for path in workflows:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# yaml-language-server: $schema={SCHEMA_ID}", path
    assert os.access(plain / "hr" / "tools" / "onboarding_checklist.py", os.X_OK)

    validated = invoke(["validate", "--strict", "-f", "json", *map(str, workflows)])
    assert validated.exit_code == 0, validated.stdout
    assert json.loads(validated.stdout)["valid"] is True

    # One process runs them all: tools import from each template's folder, read its data.
    run = subprocess.run(
        cli_command("run", *workflows, "--mock", "--format", "json", "--no-progress"),
        cwd=plain,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(run.stdout)
    assert document["status"] == "ok"
    assert sorted(r["workflow"] for r in document["results"]) == [
        "compliance_audit",
        "finance_invoice_processing",
        "hr_onboarding",
        "inventory_reorder",
        "my_workflow",
    ]
    assert all(r["status"] == "ok" and r["outputs"] for r in document["results"])
    assert (plain / ".agentflow" / "runs").is_dir(), "the log went to the default folder"


def test_init_refuses_to_overwrite_and_writes_nothing_at_all(plain: Path) -> None:
    (plain / "data").mkdir()
    (plain / "data" / "vendors.json").write_text("[]", encoding="utf-8")
    refused = invoke(["init", "finance"])
    assert refused.exit_code == 2
    assert "not overwriting data/vendors.json; nothing was written" in refused.stderr
    assert sorted(str(p.relative_to(plain)) for p in plain.rglob("*")) == [
        "data",
        "data/vendors.json",
    ]
    assert (plain / "data" / "vendors.json").read_text(encoding="utf-8") == "[]"

    assert invoke(["init"]).exit_code == 0  # blank, into "."
    (plain / "workflow.yaml").write_text("mine", encoding="utf-8")
    again = invoke(["init", "blank", "."])
    assert again.exit_code == 2
    assert "not overwriting workflow.yaml" in again.stderr
    assert (plain / "workflow.yaml").read_text(encoding="utf-8") == "mine"


def test_an_unknown_template_or_a_file_as_folder_is_a_clear_usage_error(plain: Path) -> None:
    unknown = invoke(["init", "financ"])
    assert unknown.exit_code == 2
    assert "unknown template 'financ'; did you mean 'finance'?" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    (plain / "taken").write_text("", encoding="utf-8")
    on_file = invoke(["init", "blank", "taken"])
    assert on_file.exit_code == 2
    assert "taken is a file, not a folder" in on_file.stderr
    assert sorted(p.name for p in plain.iterdir()) == ["taken"]


def test_the_wheel_ships_the_templates_and_init_works_from_it(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for member in (
        "agentflow/templates_data/blank/workflow.yaml",
        "agentflow/templates_data/workflows/hr_onboarding.yaml",
        "agentflow/templates_data/workflows/tools/onboarding_checklist.py",
        "agentflow/templates_data/workflows/data/stock_levels.csv",
    ):
        assert member in names
    # The unpacked wheel alone (no checkout next to it) scaffolds a template that validates.
    script = (
        "import agentflow, pathlib, sys\n"
        "from agentflow.scaffold import scaffold\n"
        "from agentflow.core import analyze\n"
        "assert agentflow.__file__.startswith(sys.argv[1]), agentflow.__file__\n"
        "written = scaffold('inventory', pathlib.Path('out'))\n"
        "analysis = analyze(written[0], import_tools=True)\n"
        "print(len(written), [d.message for d in analysis.errors])\n"
    )
    site = str(tmp_path / "site")
    result = subprocess.run(
        [sys.executable, "-c", script, site],
        cwd=tmp_path,
        env={**cli_env(), "PYTHONPATH": site},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[0] == "5 []"
    assert REPO not in (tmp_path / "out").resolve().parents

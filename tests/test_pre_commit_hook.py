"""The `agentflow-validate` pre-commit hook, through the real `pre-commit try-repo`.

pre-commit installs this repository into a virtualenv of its own, as a user's machine would.
To keep that offline and quick, the test lends that virtualenv the dependencies already
installed for the tests (on PYTHONPATH, so pip finds them satisfied) and forbids the package
index; agentflow itself is built and installed from a snapshot of the working tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from agentflow.scaffold import scaffold
from tests.cli.helpers import REPO

pytest.importorskip("pre_commit", reason="pre-commit is a dev dependency")
if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)

GIT_ID = [
    "-c",
    "user.name=test",
    "-c",
    "user.email=test@example.invalid",
    "-c",
    "commit.gpgsign=false",
]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _snapshot(dest: Path) -> Path:
    """The working tree as it is (committed or not) as one commit of a new repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "snapshot")
    return dest


def _try_repo(project: Path, hooks_repo: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip reads this as "build without isolation"
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PRE_COMMIT_COLOR": "never",
        "NO_COLOR": "1",
    }
    selection = ["--files", *files] if files else ["--all-files"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(hooks_repo),
            "agentflow-validate",
            *selection,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_hook_passes_valid_workflows_and_fails_an_invalid_one(tmp_path: Path) -> None:
    hooks = YAML(typ="safe", pure=True).load((REPO / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert [h["id"] for h in hooks] == ["agentflow-validate"]
    assert hooks[0]["language"] == "python"

    hooks_repo = _snapshot(tmp_path / "agentflow")
    project = tmp_path / "project"
    scaffold("inventory", project / "workflows")  # tools and data beside it, as a user has
    scaffold("blank", project / "flows")
    (project / "flows" / "workflow.yaml").rename(project / "flows" / "memo.agentflow.yaml")
    (project / ".github" / "workflows").mkdir(parents=True)
    (project / ".github" / "workflows" / "ci.yml").write_text(
        "on: push\njobs: {}\n", encoding="utf-8"
    )
    (project / "notes.yaml").write_text("not: a workflow\n", encoding="utf-8")
    bad = project / "workflows" / "bad.yaml"
    bad.write_text("version: 1\nname: Bad\nagents: {}\n", encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")

    failed = _try_repo(project, hooks_repo)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "workflows/bad.yaml:2:7: error: name 'Bad' is not allowed" in failed.stdout
    # Only the workflow files were checked: the two valid ones and the invalid one.
    assert "1 of 3 workflow file(s) invalid" in failed.stdout, failed.stdout

    bad.unlink()
    _git(project, "add", "-A")
    passed = _try_repo(project, hooks_repo)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "agentflow validate" in passed.stdout and "Passed" in passed.stdout

"""A non-editable wheel carries the JSON Schemas the CLI prints and validates with."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

from .helpers import REPO


def _build_wheel(out: Path) -> Path:
    # Without a local hatchling, pip fetches the build backend from the package index.
    has_backend = importlib.util.find_spec("hatchling") is not None
    args = ["--no-build-isolation"] if has_backend else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", *args, "-w", str(out), "-q"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=110,
    )
    (wheel,) = out.glob("agentflow-*.whl")
    return wheel


def test_the_wheel_contains_the_schemas(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in ("workflow", "plan", "run-event"):
            member = f"agentflow/_schemas/{name}.schema.json"
            assert member in names
            assert archive.read(member) == (REPO / "schemas" / f"{name}.schema.json").read_bytes()
    assert "agentflow/cli/app.py" in names

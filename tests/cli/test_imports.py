"""The quick commands never import litellm (~2.5 s, ~170 MB) nor prometheus_client, and
`python -m agentflow` works."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .helpers import REPO

# Runs the real entry point with the given argv, then reports whether litellm was imported.
WRAPPER = """\
import sys
sys.argv = ["agentflow", *sys.argv[1:]]
from agentflow.cli.app import app
try:
    app()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = {name: name in sys.modules for name in ("litellm", "prometheus_client")}
sys.stderr.write(f"\\nLITELLM={loaded['litellm']} PROMETHEUS={loaded['prometheus_client']} EXIT={code}\\n")
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["validate", "workflows"],
        ["validate", "-f", "json", "workflows/hr_onboarding.yaml"],
        ["plan", "workflows/hr_onboarding.yaml"],
        ["plan", "workflows/finance_invoice_processing.yaml", "-f", "json"],
        ["graph", "workflows/hr_onboarding.yaml", "-f", "dot"],
        ["schema"],
        ["schema", "--vscode"],
        ["init", "--list"],
        ["run", "--help"],
        ["runs", "--log-dir", "tests"],
        ["cache", "stats", "--state", "tests/no-such-state.db"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_quick_commands_never_import_litellm(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert "LITELLM=False PROMETHEUS=False EXIT=0" in result.stderr, result.stderr[-2000:]


def test_python_dash_m_agentflow_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentflow", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: python -m agentflow" in result.stdout
    for command in ("validate", "plan", "run", "graph", "schema"):
        assert command in result.stdout

"""The real `promtool` (Debian's `prometheus` package) checks the alert rules, runs their unit
tests, and lints the textfile a real `--mock` run wrote.

promtool is installed with apt-get when missing (CI's `.ci/run` installs it up front); the
tests skip, saying why, only where it cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli import cli_command, cli_env
from tests.system_tools import ensure_tool

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "docs" / "alerts.yml"
ALERT_TESTS = Path(__file__).with_name("alerts_test.yml")


def _promtool() -> str | None:
    found = ensure_tool("promtool", "prometheus")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=300, check=False)
        found = ensure_tool("promtool", "prometheus")
    return found


@pytest.fixture(scope="module")
def promtool() -> str:
    found = _promtool()
    if found is None:
        pytest.skip("promtool is missing and cannot be installed here (needs root and apt-get)")
    return found


def _promtool_run(promtool: str, *args: str | Path, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        [promtool, *map(str, args)], input=stdin, capture_output=True, timeout=120, check=False
    )
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, output
    return output


def test_the_alert_rules_are_valid_and_their_unit_tests_pass(promtool: str) -> None:
    checked = _promtool_run(promtool, "check", "rules", ALERTS)
    assert "SUCCESS: 8 rules found" in checked
    tested = _promtool_run(promtool, "test", "rules", ALERT_TESTS)
    assert "SUCCESS" in tested


def test_the_textfile_of_a_real_mock_run_passes_promtool_check_metrics(
    promtool: str, tmp_path: Path
) -> None:
    textfile = tmp_path / "agentflow.prom"
    done = subprocess.run(
        cli_command(
            "run",
            REPO / "workflows" / "hr_onboarding.yaml",
            "--mock",
            "--no-progress",
            "--budget-usd",
            "1",
            "--log-dir",
            tmp_path / "logs",
            "--metrics-file",
            textfile,
        ),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = textfile.read_bytes()
    for name in (
        b"agentflow_llm_requests_total",
        b"agentflow_tokens_total",
        b"agentflow_cost_usd_total",
        b"agentflow_agent_duration_seconds_bucket",
        b'agentflow_budget_remaining_usd{agent="",scope="run",workflow=""}',
    ):
        assert name in text, name
    # No output at all: promtool prints every lint problem it finds.
    assert _promtool_run(promtool, "check", "metrics", stdin=text) == ""

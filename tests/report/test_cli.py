"""`agentflow report`: formats, -o, --compare, errors; `run --junit`; `schema report`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml

from agentflow.schema.resources import load_schema
from tests.cli.helpers import REPO, invoke
from tests.cli.test_imports import WRAPPER
from tests.report.runs import ScriptedClient, invoice_workflow, run_logged


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "runs"
    run_logged(folder, "r-1", invoice_workflow())
    # The same workflow later, with instance 1 fixed: cheaper in failures, not in calls.
    run_logged(folder, "r-2", invoice_workflow(), client=ScriptedClient(frozenset()))
    return folder


def test_report_of_latest_in_each_format(logs: Path, tmp_path: Path) -> None:
    text = invoke(["report", "--log-dir", str(logs)])
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith("Report of run r-2\n")

    first = invoke(["report", "r-1", "--log-dir", str(logs), "-f", "json"])
    document = json.loads(first.stdout)
    jsonschema.validate(document, load_schema("report.schema.json"))
    assert document["run_id"] == "r-1" and document["status"] == "failed"
    assert document["continue_command"] == f"agentflow retry r-1 --log-dir {logs}"

    markdown = invoke(["report", "r-1", "--log-dir", str(logs), "-f", "markdown"])
    assert "| invoices[1]/classify | bad_request |" in markdown.stdout


def test_report_writes_o_atomically_and_says_where(logs: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "junit.xml"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    result = invoke(["report", "r-1", "--log-dir", str(logs), "-f", "junit", "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    assert str(target) in result.stdout
    xml = JUnitXml.fromfile(str(target))
    assert (xml.tests, xml.failures) == (8, 1)
    assert sorted(p.name for p in target.parent.iterdir()) == ["junit.xml"]  # no temp file left


def test_compare_shows_per_agent_deltas(logs: Path) -> None:
    result = invoke(["report", "--compare", "r-1", "r-2", "--log-dir", str(logs), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    rows = {row["agent"]: row for row in document["agents"]}
    assert rows["classify"]["failed_delta"] == -1
    assert rows["classify"]["tokens_delta"] == 160  # the call that failed now answers
    assert rows["check"]["cost_delta_usd"] == 0
    assert document["total"]["failed_delta"] == -1
    text = invoke(["report", "--compare", "r-1", "r-2", "--log-dir", str(logs)])
    assert "Run r-2 compared with run r-1" in text.stdout
    assert "classify" in text.stdout and "-1" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "nope"], "no run 'nope'"),
        (["report", "r-1", "-f", "pdf"], "pdf"),
        (["report", "--compare", "r-1", "r-2", "-f", "html"], "--compare gives text"),
        (["report", "r-1", "-o", "."], "is a folder"),
    ],
)
def test_bad_report_arguments_are_one_clear_message(
    logs: Path, args: list[str], message: str
) -> None:
    result = invoke([*args, "--log-dir", str(logs)])
    assert result.exit_code == 2
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_report_and_schema_never_import_litellm(logs: Path) -> None:
    for argv in (
        ["report", "r-1", "--log-dir", str(logs), "-f", "html", "-o", str(logs / "r.html")],
        ["schema", "report"],
    ):
        result = subprocess.run(
            [sys.executable, "-c", WRAPPER, *argv],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        )
        assert "LITELLM=False PROMETHEUS=False EXIT=0" in result.stderr, result.stderr[-2000:]


@pytest.mark.e2e
def test_run_junit_writes_the_run_as_junit(tmp_path: Path) -> None:
    from tests.e2e.cli import cli_env

    flow = REPO / "workflows" / "hr_onboarding.yaml"
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentflow",
            "run",
            str(flow),
            "--mock",
            "--no-progress",
            "--run-id",
            "r-junit",
            "--log-dir",
            str(tmp_path / "runs"),
            "--junit",
            str(junit),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=cli_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    xml = JUnitXml.fromfile(str(junit))
    names = sorted(case.name for suite in xml for case in suite)
    assert names == sorted(
        ["parse_resume", "screen", "schedule_interviews", "onboarding_plan", "welcome_notes"]
    )
    assert not any(isinstance(r, Failure) for suite in xml for case in suite for r in case.result)


def test_run_junit_into_a_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    flow = REPO / "workflows" / "hr_onboarding.yaml"
    logs = tmp_path / "runs"
    result = invoke(["run", str(flow), "--mock", "--log-dir", str(logs), "--junit", str(tmp_path)])
    assert result.exit_code == 2
    assert "--junit" in result.stderr and "is a folder" in result.stderr
    assert not logs.exists()  # nothing started, nothing logged

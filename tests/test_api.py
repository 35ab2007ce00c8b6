"""The Python API: docs/api.md's examples run as written, `import agentflow` stays light,
and the records are the ones the CLI prints."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import agentflow
from agentflow.errors import UsageError, WorkflowInvalid
from agentflow.scaffold import scaffold
from tests.cli.helpers import REPO, invoke
from tests.e2e.cli import read_log

API_DOC = REPO / "docs" / "api.md"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder made by `agentflow init blank`, as the examples of docs/api.md expect."""
    scaffold("blank", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def test_every_python_example_in_docs_api_md_runs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", API_DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "docs_api"}
    for n, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/api.md#python-{n}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "my_workflow 1" in printed
    assert "ok 0" in printed
    assert "unknown input 'txt' for workflow 'my_workflow'; did you mean 'text'?" in printed
    assert len(list((project / ".agentflow" / "runs").glob("*.jsonl"))) == 3


def test_import_agentflow_is_light_and_validate_and_plan_never_import_litellm() -> None:
    script = (
        "import sys, agentflow\n"
        "light = 'agentflow.api' not in sys.modules and 'rich' not in sys.modules\n"
        "ok = agentflow.validate_file('workflows/hr_onboarding.yaml').ok\n"
        "planned = agentflow.plan_file('workflows/inventory_reorder.yaml').exit_code\n"
        "print(light, ok, planned, 'litellm' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert result.stdout.split() == ["True", "True", "0", "False"], result.stderr[-2000:]


def test_the_validation_result_is_what_validate_json_reports(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = project / "bad.yaml"
    bad.write_text("version: 1\nname: Bad\nagents: {}\n", encoding="utf-8")
    result = agentflow.validate_file(bad)
    cli = invoke(["validate", "-f", "json", str(bad)])
    (file,) = json.loads(cli.stdout)["files"]
    assert cli.exit_code == 2 and not result.ok and file["valid"] is False
    assert [(d.line, d.column, d.message) for d in result.diagnostics] == [
        (d["line"], d["column"], d["message"]) for d in file["diagnostics"]
    ]
    assert result.workflow is None
    assert agentflow.validate_file("workflow.yaml", strict=True).ok


def test_a_plan_is_the_document_plan_json_prints(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = {"text": "A memo of some length about prices."}
    result = agentflow.plan_file("workflow.yaml", inputs=inputs, budget_usd=5)
    cli = invoke(["plan", "workflow.yaml", "--input", f"text={inputs['text']}", "-f", "json"])
    cli_doc = json.loads(cli.stdout)
    api_doc = result.to_json()
    assert api_doc["totals"] == cli_doc["totals"]
    assert api_doc["agents"] == cli_doc["agents"]
    assert result.exit_code == 0
    batch = agentflow.plan_file("workflow.yaml", inputs=[inputs, inputs, inputs])
    assert batch.plan.totals.calls.expected == 3 * result.plan.totals.calls.expected


def test_bad_values_raise_before_any_log_is_written(project: Path) -> None:
    with pytest.raises(UsageError, match="--budget-usd -1: a budget must be"):
        agentflow.run_file("workflow.yaml", mock=True, budget_usd=-1)
    with pytest.raises(UsageError, match="not both"):
        agentflow.run_file("workflow.yaml", mock=True, inputs={}, input_pairs=["text=x"])
    with pytest.raises(UsageError, match="input 'text' is invalid"):
        agentflow.plan_file("workflow.yaml", inputs={"text": 42})
    (project / "broken.yaml").write_text("version: 1\nname: x\n", encoding="utf-8")
    with pytest.raises(WorkflowInvalid) as caught:
        agentflow.run_file("broken.yaml", mock=True)
    assert caught.value.diagnostics
    assert not (project / ".agentflow").exists()


def test_python_inputs_are_recorded_so_a_retry_runs_with_the_same_ones(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = {"text": "Only in this process: not a default, not on a command line."}
    first = agentflow.run_file("workflow.yaml", mock=True, inputs=given, run_id="first")
    assert first.status == "ok" and first.exit_code == 0
    assert first.to_json()["results"] == [
        {"workflow": "my_workflow", "instance": 0, "status": "ok", "outputs": dict(first.outputs)}
    ]
    retried = invoke(["retry", "first", "--select", "summarise", "--run-id", "second"])
    assert retried.exit_code == 0, retried.stderr
    events = read_log(project / ".agentflow" / "runs" / "second.jsonl")
    (started,) = [e for e in events if e["event"] == "workflow.started"]
    assert started["inputs"] == given

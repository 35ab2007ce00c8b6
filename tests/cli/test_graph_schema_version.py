"""`agentflow graph`, `agentflow schema` and `--version`."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from syrupy.assertion import SnapshotAssertion

from agentflow import __version__

from .helpers import CORPUS, REPO, in_repo, invoke

HR = "workflows/hr_onboarding.yaml"


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    in_repo(monkeypatch)


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "json"])
def test_graph_of_hr_onboarding(fmt: str, snapshot: SnapshotAssertion) -> None:
    result = invoke(["graph", HR, "--format", fmt])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == snapshot


def test_graph_defaults_to_mermaid() -> None:
    assert invoke(["graph", HR]).stdout == invoke(["graph", HR, "-f", "mermaid"]).stdout


def test_graph_json_edges_and_levels_match_the_file() -> None:
    document = json.loads(invoke(["graph", HR, "-f", "json"]).stdout)
    assert document["format"] == "agentflow.graph/v1"
    edges = {(e["from"], e["to"], e["kind"]) for e in document["edges"]}
    assert ("schedule_interviews", "welcome_notes", "needs") in edges
    assert ("parse_resume", "screen", "data") in edges
    assert document["levels"][0] == ["parse_resume"]
    assert document["critical_path"]["agents"][0] == "parse_resume"
    assert document["critical_path"]["agents"][-1] == "welcome_notes"


def test_graph_of_an_invalid_file_reports_it_and_exits_2() -> None:
    path = (CORPUS / "semantic" / "cycle_templates.yaml").relative_to(REPO).as_posix()
    result = invoke(["graph", path])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"{path}:5:3: error: dependency cycle: draft -> review")


def test_graph_of_a_missing_file_exits_2() -> None:
    result = invoke(["graph", "nope.yaml"])
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_prints_the_workflow_schema() -> None:
    result = invoke(["schema"])
    assert result.exit_code == 0
    on_disk = json.loads((REPO / "schemas" / "workflow.schema.json").read_text())
    assert json.loads(result.stdout) == on_disk
    assert invoke(["schema", "workflow"]).stdout == result.stdout


OTHER_SCHEMAS = sorted(
    p.name.removesuffix(".schema.json")
    for p in (REPO / "schemas").glob("*.schema.json")
    if p.name != "workflow.schema.json"
)


def test_the_documents_have_schemas() -> None:
    assert {"run-event", "plan"} <= set(OTHER_SCHEMAS)


@pytest.mark.parametrize("name", OTHER_SCHEMAS)
def test_schema_prints_the_other_schemas(name: str) -> None:
    result = invoke(["schema", name])
    assert result.exit_code == 0
    on_disk = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    assert json.loads(result.stdout) == on_disk


def test_an_unknown_schema_name_exits_2_and_lists_the_names() -> None:
    result = invoke(["schema", "workflows"])
    assert result.exit_code == 2
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith("error: unknown schema 'workflows'; choose one of workflow, ")
    for name in OTHER_SCHEMAS:
        assert name in message


def test_graph_json_matches_its_schema() -> None:
    path = REPO / "schemas" / "graph.schema.json"
    if not path.exists():
        pytest.fail("schemas/graph.schema.json is missing")
    document = json.loads(invoke(["graph", HR, "-f", "json"]).stdout)
    jsonschema.Draft202012Validator(json.loads(path.read_text())).validate(document)


def test_schema_help_names_every_schema() -> None:
    result = invoke(["schema", "--help"])
    for name in ["workflow", *OTHER_SCHEMAS]:
        assert name in result.stdout, name


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"agentflow {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


def test_no_command_shows_help() -> None:
    result = invoke([])
    assert result.exit_code == 2
    assert "validate" in result.stdout + result.stderr

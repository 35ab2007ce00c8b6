"""Every --format json document agentflow prints matches the JSON Schema it ships."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"


def _schema(name: str) -> dict[str, object]:
    schema: dict[str, object] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return schema


def _agentflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, "-m", "agentflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_every_shipped_schema_is_a_valid_2020_12_schema_with_an_id(path: Path) -> None:
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(path.name)


def test_run_json_document_matches_its_schema(tmp_path: Path) -> None:
    result = _agentflow(
        "run",
        str(ROOT / "workflows" / "compliance_audit.yaml"),
        "--mock",
        "--format",
        "json",
        "--no-progress",
        "--log-dir",
        str(tmp_path),
        "--run-id",
        "wire",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, _schema("run-result"))
    assert document["log_path"] == str(tmp_path / "wire.jsonl")
    assert document["rerun_command"].startswith("agentflow run ")
    assert document["continue_command"] is None  # an ok run has nothing to go on with


def test_validate_and_graph_json_documents_match_their_schemas(tmp_path: Path) -> None:
    validated = _agentflow("validate", str(ROOT / "workflows"), "--format", "json", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    jsonschema.validate(json.loads(validated.stdout), _schema("validate-result"))
    graph = _agentflow(
        "graph", str(ROOT / "workflows" / "hr_onboarding.yaml"), "--format", "json", cwd=tmp_path
    )
    assert graph.returncode == 0, graph.stderr
    jsonschema.validate(json.loads(graph.stdout), _schema("graph"))

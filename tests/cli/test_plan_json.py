"""`agentflow plan --format json` of every example matches schemas/plan.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from .helpers import EXAMPLES, REPO, in_repo, invoke

PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_plan_json_of_each_example_matches_the_schema(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_repo(monkeypatch)
    result = invoke(["plan", str(example.relative_to(REPO)), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(document)
    assert document["format"] == "agentflow.plan/v1"


def test_plan_of_an_invalid_file_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    in_repo(monkeypatch)
    result = invoke(["plan", "tests/corpus/invalid/semantic/no_model.yaml", "-f", "json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "has no model" in result.stderr

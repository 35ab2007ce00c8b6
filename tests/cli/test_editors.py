"""Editor support: the schema's stable $id, the documented globs, `schema --vscode`."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch

import pytest

from agentflow.editors import FILE_MATCH, SCHEMASTORE_FILE_MATCH, schemastore_entry
from agentflow.scaffold import SCHEMA_ID
from agentflow.schema.resources import load_schema

from .helpers import EXAMPLES, REPO, in_repo, invoke

EDITORS_DOC = (REPO / "docs" / "editors.md").read_text(encoding="utf-8")


def _json_blocks() -> list[object]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", EDITORS_DOC, re.DOTALL)]


def test_schema_vscode_prints_settings_that_point_at_the_workflow_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_repo(monkeypatch)
    result = invoke(["schema", "--vscode"])
    assert result.exit_code == 0, result.stderr
    settings = json.loads(result.stdout)
    ((url, globs),) = settings["yaml.schemas"].items()
    assert url == load_schema("workflow.schema.json")["$id"] == SCHEMA_ID
    assert globs == list(FILE_MATCH)
    assert settings in _json_blocks(), "docs/editors.md shows what --vscode prints"
    other = invoke(["schema", "run-event", "--vscode"])
    assert other.exit_code == 2
    assert "--vscode prints settings for the workflow schema, not 'run-event'" in other.stderr


def test_the_globs_match_workflow_files_and_not_github_actions_in_schemastore() -> None:
    for example in EXAMPLES:
        relative = str(example.relative_to(REPO))
        assert any(fnmatch(relative, glob) for glob in FILE_MATCH), relative
    assert any(fnmatch("flows/invoices.agentflow.yaml", g) for g in SCHEMASTORE_FILE_MATCH)
    assert not any(fnmatch(".github/workflows/ci.yml", g) for g in SCHEMASTORE_FILE_MATCH)


def test_the_schemastore_entry_in_the_docs_is_the_one_the_schema_gives() -> None:
    entry = schemastore_entry()
    assert entry["url"] == SCHEMA_ID
    assert entry in _json_blocks()
    for glob in FILE_MATCH:
        assert f"`{glob}`" in EDITORS_DOC

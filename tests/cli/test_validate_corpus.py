"""Every file of the invalid corpus: the exact message, exit 2, and a location inside the file.

Schema-side cases live in tests/corpus/invalid/, semantic ones (references, cycles, templates,
tools, prices) in its `semantic/` folder, so each keeps exactly one problem of its kind.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from .helpers import CORPUS, REPO, in_repo, invoke

FILES = sorted(CORPUS.rglob("*.yaml"))
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (error|warning): \S")
SUMMARY = re.compile(r"^1 of 1 workflow file\(s\) invalid \(\d+ error\(s\), \d+ warning\(s\)\)$")


def _name(path: Path) -> str:
    return path.relative_to(CORPUS).with_suffix("").as_posix()


def test_the_corpus_covers_the_semantic_checks() -> None:
    names = {_name(p) for p in FILES}
    assert {
        "semantic/unknown_needs", "semantic/cycle_needs", "semantic/cycle_templates",
        "semantic/template_unknown_agent", "semantic/template_unknown_input",
        "semantic/template_syntax_error", "semantic/unknown_tool", "semantic/self_dependency",
        "semantic/item_without_for_each", "semantic/unknown_price_under_budget",
        "semantic/no_model", "semantic/schema_with_text_output",
        "semantic/input_default_breaks_schema", "semantic/python_tool_missing_module",
    } <= names  # fmt: skip
    assert len(names) >= 36


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_validate_reports_one_located_problem(
    path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion
) -> None:
    in_repo(monkeypatch)
    relative = path.relative_to(REPO).as_posix()
    result = invoke(["validate", relative])
    # A missing tool module is reported by its absolute path; keep the snapshot portable.
    text = result.stderr.replace(str(REPO), "<repo>")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in text
    *diagnostics, summary = text.splitlines()
    assert SUMMARY.match(summary), summary
    assert len(diagnostics) == 1
    match = LOCATED.match(diagnostics[0])
    assert match, diagnostics[0]
    assert match["file"] == relative
    lines = path.read_bytes().split(b"\n")
    line, col = int(match["line"]), int(match["col"])
    assert 1 <= line <= max(len(lines), 1)
    assert 1 <= col <= max(len(lines[line - 1]) + 1, 1)
    assert {"exit_code": result.exit_code, "stderr": text} == snapshot

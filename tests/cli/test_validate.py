"""`agentflow validate`: examples, output formats, --strict, folders and bad paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from .helpers import CORPUS, EXAMPLES, REPO, in_repo, invoke

WARNINGS_ONLY = """\
version: 1
name: warn_case
defaults: {model: openai/gpt-4o-mini}
agents:
  screen:
    max_parallel: 3
    prompt: Score the candidate from 0 to 10.
"""

UNPRICED = """\
version: 1
name: unpriced
defaults: {model: my-local/model}
agents:
  screen:
    prompt: Score the candidate from 0 to 10.
"""

GITHUB = re.compile(r"^::(error|warning) file=([^,]+),line=(\d+),col=(\d+),title=agentflow::\S")


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    in_repo(monkeypatch)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_valid(example: Path) -> None:
    result = invoke(["validate", str(example.relative_to(REPO))])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == "1 workflow file(s) valid"
    assert result.stdout == ""


def test_the_examples_folder_is_valid_with_strict() -> None:
    result = invoke(["validate", "--strict", "workflows"])
    assert result.exit_code == 0, result.stderr
    assert f"{len(EXAMPLES)} workflow file(s) valid" in result.stderr


def test_json_format_is_one_document_with_every_diagnostic(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", WARNINGS_ONLY)
    bad = str((CORPUS / "semantic" / "unknown_needs.yaml").relative_to(REPO))
    result = invoke(["validate", "--format", "json", good, bad])

    assert result.exit_code == 2
    assert result.stderr == ""
    document = json.loads(result.stdout)
    schema = json.loads((REPO / "schemas" / "validate-result.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["format"] == "agentflow.validate/v1"
    assert document["valid"] is False
    first, second = document["files"]
    assert first == {
        "path": good,
        "valid": True,
        "workflow": "warn_case",
        "agents": 1,
        "diagnostics": [
            {
                "file": good,
                "line": 6,
                "column": 19,
                "path": "agents.screen.max_parallel",
                "severity": "warning",
                "code": "unused",
                "message": "max_parallel has no effect without for_each",
            }
        ],
    }
    assert second["valid"] is False
    assert second["workflow"] is None and second["agents"] is None
    (diag,) = second["diagnostics"]
    assert (diag["line"], diag["column"], diag["code"]) == (8, 13, "unknown_agent")
    assert "did you mean 'parse_resume'?" in diag["message"]


def test_json_format_marks_warnings_invalid_under_strict(tmp_path: Path) -> None:
    path = _write(tmp_path, "warn.yaml", WARNINGS_ONLY)
    result = invoke(["validate", "--format", "json", "--strict", path])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert document["files"][0]["valid"] is False


def test_github_format_prints_workflow_commands(tmp_path: Path) -> None:
    warn = _write(tmp_path, "warn.yaml", WARNINGS_ONLY)
    bad = str((CORPUS / "semantic" / "cycle_needs.yaml").relative_to(REPO))
    result = invoke(["validate", "--format", "github", warn, bad])

    assert result.exit_code == 2
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines == [
        f"::warning file={warn},line=6,col=19,title=agentflow::"
        "max_parallel has no effect without for_each",
        f"::error file={bad},line=5,col=3,title=agentflow::dependency cycle: "
        "parse_resume -> screen -> parse_resume; "
        "defined at parse_resume (line 5), screen (line 8)",
    ]
    assert all(GITHUB.match(line) for line in lines)


def test_github_format_escapes_percent_signs(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "pct.yaml",
        "version: 1\nname: pct\ndefaults: {model: openai/gpt-4o-mini}\n"
        "inputs:\n  rate: {type: string, pattern: '^[0-9]+$', default: '50%'}\n"
        "agents:\n  a:\n    prompt: Hello.\n",
    )
    result = invoke(["validate", "-f", "github", path])
    assert result.exit_code == 2
    (line,) = result.stdout.splitlines()
    assert GITHUB.match(line)
    assert "'50%25'" in line
    assert "%" not in line.replace("%25", "")


@pytest.mark.parametrize(
    ("text", "code"),
    [(WARNINGS_ONLY, "unused"), (UNPRICED, "unknown_price")],
    ids=["max_parallel_without_for_each", "unknown_price_without_budget"],
)
def test_strict_turns_a_warning_into_exit_2(tmp_path: Path, text: str, code: str) -> None:
    path = _write(tmp_path, "warn.yaml", text)
    lenient = invoke(["validate", path])
    strict = invoke(["validate", "--strict", path])

    assert lenient.exit_code == 0
    assert ": warning: " in lenient.stderr
    assert "1 workflow file(s) valid (1 warning(s))" in lenient.stderr
    assert strict.exit_code == 2
    assert "1 of 1 workflow file(s) invalid (0 error(s), 1 warning(s))" in strict.stderr
    as_json = json.loads(invoke(["validate", "-f", "json", path]).stdout)
    assert [d["code"] for d in as_json["files"][0]["diagnostics"]] == [code]


def test_folders_are_searched_recursively_skipping_hidden_ones(tmp_path: Path) -> None:
    _write(tmp_path, "top.yaml", WARNINGS_ONLY.replace("warn_case", "top"))
    _write(tmp_path, "a/b/deep.yml", WARNINGS_ONLY.replace("warn_case", "deep"))
    _write(tmp_path, "a/notes.txt", "not a workflow")
    _write(tmp_path, ".hidden/broken.yaml", "version: 2\n")
    result = invoke(["validate", "-f", "json", str(tmp_path)])

    assert result.exit_code == 0
    paths = [
        Path(f["path"]).relative_to(tmp_path).as_posix() for f in json.loads(result.stdout)["files"]
    ]
    assert paths == ["a/b/deep.yml", "top.yaml"]


def test_a_folder_with_an_invalid_file_deep_inside_fails(tmp_path: Path) -> None:
    _write(tmp_path, "ok.yaml", WARNINGS_ONLY)
    _write(tmp_path, "sub/bad.yaml", (CORPUS / "wrong_version.yaml").read_text())
    result = invoke(["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path}/sub/bad.yaml:1:10: error: version must be 1, got 2" in result.stderr
    assert "1 of 2 workflow file(s) invalid" in result.stderr


def test_a_missing_path_is_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = invoke(["validate", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {missing}: no such file or folder"
    assert result.stdout == ""


def test_a_folder_without_workflows_is_exit_2(tmp_path: Path) -> None:
    result = invoke(["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "no workflow files (*.yaml, *.yml) in this folder" in result.stderr


def test_no_path_at_all_is_a_usage_error() -> None:
    result = invoke(["validate"])
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr

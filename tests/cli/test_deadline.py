"""A workflow's `deadline:` in `plan` (text and JSON) and `validate --strict`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from .helpers import REPO, in_repo, invoke

PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())

# Eight calls under 60 rpm with a one-request burst: the limit needs 7 s.
TOO_TIGHT = """\
version: 1
name: tight
deadline: 5s
limits:
  "*": {rpm: 60, burst: 1}
defaults: {model: openai/gpt-4o-mini}
agents:
  a: {prompt: one}
  b: {prompt: two}
  c: {prompt: three}
  d: {prompt: four}
  e: {prompt: five}
  f: {prompt: six}
  g: {prompt: seven}
  h: {prompt: eight}
"""


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    in_repo(monkeypatch)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tight.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_plan_predicts_a_missed_deadline_in_text_and_json(tmp_path: Path) -> None:
    path = _write(tmp_path, TOO_TIGHT)
    text = invoke(["plan", path])
    assert text.exit_code == 0
    assert "Deadline: 5.0 s after the start; predicted to MISS it by 2.0 s (7.0 s" in text.stdout
    document = json.loads(invoke(["plan", path, "--format", "json"]).stdout)
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(document)
    assert document["deadline"] == {
        "deadline_s": 5.0,
        "at": None,
        "predicted_s": 7.0,
        "meets": False,
        "on_deadline": "warn",
    }


def test_plan_of_a_deadline_that_fits_says_how_much_is_spare(tmp_path: Path) -> None:
    path = _write(tmp_path, TOO_TIGHT.replace("deadline: 5s", "deadline: 2m"))
    text = invoke(["plan", path])
    assert "Deadline: 2 min 00 s after the start; predicted to finish with 113.0 s to spare" in (
        text.stdout
    )
    document = json.loads(invoke(["plan", path, "--format", "json"]).stdout)
    assert document["deadline"]["meets"] is True
    assert invoke(["validate", "--strict", path]).exit_code == 0


def test_plan_without_a_deadline_has_a_null_one(tmp_path: Path) -> None:
    path = _write(tmp_path, TOO_TIGHT.replace("deadline: 5s\n", ""))
    document = json.loads(invoke(["plan", path, "--format", "json"]).stdout)
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(document)
    assert document["deadline"] is None
    assert "Deadline" not in invoke(["plan", path]).stdout


def test_validate_strict_fails_a_deadline_the_plan_cannot_meet_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, TOO_TIGHT)
    lenient = invoke(["validate", path])
    strict = invoke(["validate", "--strict", path])
    assert lenient.exit_code == 0
    assert f"{path}:3:11: warning: deadline: 5.0 s after the start; predicted to MISS" in (
        lenient.stderr
    )
    assert strict.exit_code == 2
    as_json = json.loads(invoke(["validate", "-f", "json", path]).stdout)
    assert [d["code"] for d in as_json["files"][0]["diagnostics"]] == ["deadline_unmet"]


def test_a_deadline_given_as_a_time_is_counted_from_now_and_kept_as_given(tmp_path: Path) -> None:
    path = _write(tmp_path, TOO_TIGHT.replace("deadline: 5s", 'deadline: "2000-01-01T00:00:00Z"'))
    document = json.loads(invoke(["plan", path, "--format", "json"]).stdout)
    assert document["deadline"]["at"] == "2000-01-01T00:00:00Z"
    assert document["deadline"]["deadline_s"] < 0  # long past
    assert document["deadline"]["meets"] is False


@pytest.mark.parametrize(
    "value", ["soon", '"2026-01-01T18:00:00"', "-5s", '"18:00"'], ids=lambda v: v.strip('"')
)
def test_a_deadline_that_is_neither_a_duration_nor_a_time_with_offset_is_an_error(
    tmp_path: Path, value: str
) -> None:
    path = _write(tmp_path, TOO_TIGHT.replace("deadline: 5s", f"deadline: {value}"))
    result = invoke(["validate", path])
    assert result.exit_code == 2
    assert f"{path}:3:11: " in result.stderr

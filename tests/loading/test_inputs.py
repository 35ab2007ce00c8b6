"""`parse_inputs`: defaults, typing of --input values, @file, JSON and JSONL files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow.errors import UsageError
from agentflow.loading.inputs import parse_inputs
from agentflow.model.types import Agent, InputSpec, Workflow, freeze


def _spec(name: str, schema: dict[str, object], **default: object) -> InputSpec:
    return InputSpec(
        name=name,
        schema=freeze(schema),
        has_default="value" in default,
        default=freeze(default.get("value")),
    )


WORKFLOW = Workflow(
    name="screening",
    path=Path("screening.yaml"),
    agents=(Agent(id="screen", model="openai/gpt-4o-mini", prompt="Score."),),
    inputs=(
        _spec("candidate", {"type": "string"}),
        _spec("role", {"type": "string"}, value="Backend Engineer"),
        _spec("max_score", {"type": "integer", "minimum": 1}, value=10),
        _spec("languages", {"type": "array", "items": {"type": "string"}}, value=["English"]),
        _spec("meta", {}, value=None),
    ),
)


def test_defaults_fill_what_is_not_given() -> None:
    (values,) = parse_inputs(WORKFLOW, ["candidate=Ada"], None)
    assert values == {
        "candidate": "Ada",
        "role": "Backend Engineer",
        "max_score": 10,
        "languages": ["English"],
        "meta": None,
    }


def test_defaults_are_plain_mutable_json() -> None:
    (values,) = parse_inputs(WORKFLOW, ["candidate=Ada"], None)
    assert type(values["languages"]) is list


def test_string_inputs_take_the_text_as_written() -> None:
    (values,) = parse_inputs(WORKFLOW, ["candidate=42", 'role=["a"]'], None)
    assert values["candidate"] == "42"
    assert values["role"] == '["a"]'


def test_other_inputs_are_parsed_as_json() -> None:
    (values,) = parse_inputs(
        WORKFLOW,
        ["candidate=Ada", "max_score=7", 'languages=["fr", "de"]', 'meta={"a": [1, true]}'],
        None,
    )
    assert values["max_score"] == 7
    assert values["languages"] == ["fr", "de"]
    assert values["meta"] == {"a": [1, True]}


def test_a_value_may_contain_equals_signs() -> None:
    (values,) = parse_inputs(WORKFLOW, ["candidate=a=b"], None)
    assert values["candidate"] == "a=b"


def test_unquoted_text_for_a_non_string_input_fails_the_schema() -> None:
    with pytest.raises(UsageError) as info:
        parse_inputs(WORKFLOW, ["candidate=Ada", "max_score=ten"], None)
    assert str(info.value) == (
        "--input: input 'max_score' is invalid: 'ten' is not of type 'integer'"
    )


def test_at_file_reads_text_for_strings_and_json_otherwise(tmp_path: Path) -> None:
    resume = tmp_path / "resume.txt"
    resume.write_text("Ada Lovelace\nAnalyst\n", encoding="utf-8")
    langs = tmp_path / "langs.json"
    langs.write_text('["en", "fr"]', encoding="utf-8")
    (values,) = parse_inputs(WORKFLOW, [f"candidate=@{resume}", f"languages=@{langs}"], None)
    assert values["candidate"] == "Ada Lovelace\nAnalyst\n"
    assert values["languages"] == ["en", "fr"]


def test_at_file_errors_name_the_input_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(UsageError, match=r"^--input candidate: cannot read .*missing\.txt"):
        parse_inputs(WORKFLOW, [f"candidate=@{missing}"], None)
    broken = tmp_path / "langs.json"
    broken.write_text("[1,", encoding="utf-8")
    with pytest.raises(UsageError) as info:
        parse_inputs(WORKFLOW, ["candidate=x", f"languages=@{broken}"], None)
    assert str(info.value).startswith(f"--input languages: {broken} is not JSON: ")
    assert "at line 1" in str(info.value)


def test_a_pair_without_equals_is_refused() -> None:
    with pytest.raises(UsageError, match=r"--input 'candidate': expected NAME=VALUE"):
        parse_inputs(WORKFLOW, ["candidate"], None)


def test_an_unknown_input_suggests_the_nearest_name() -> None:
    with pytest.raises(UsageError) as info:
        parse_inputs(WORKFLOW, ["candidate=Ada", "rol=CTO"], None)
    assert str(info.value) == (
        "--input: unknown input 'rol' for workflow 'screening'; did you mean 'role'?"
    )


def test_an_unknown_input_far_from_any_name_lists_the_inputs() -> None:
    with pytest.raises(UsageError) as info:
        parse_inputs(WORKFLOW, ["candidate=Ada", "zzz=1"], None)
    assert "declared inputs: candidate, role, max_score, languages, meta" in str(info.value)


def test_a_missing_required_input_says_how_to_pass_it() -> None:
    with pytest.raises(UsageError) as info:
        parse_inputs(WORKFLOW, [], None)
    assert str(info.value) == (
        "--input: workflow 'screening' needs input 'candidate'; "
        "pass --input candidate=... or put it in --inputs"
    )


def test_a_json_file_gives_one_instance(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"candidate": "Ada", "max_score": 5}), encoding="utf-8")
    (values,) = parse_inputs(WORKFLOW, [], path)
    assert values["candidate"] == "Ada" and values["max_score"] == 5


def test_a_jsonl_file_gives_one_instance_per_line_and_input_wins(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text(
        '{"candidate": "Ada"}\n\n{"candidate": "Grace", "role": "CTO"}\n', encoding="utf-8"
    )
    rows = parse_inputs(WORKFLOW, ["max_score=3"], path)
    assert [(r["candidate"], r["role"], r["max_score"]) for r in rows] == [
        ("Ada", "Backend Engineer", 3),
        ("Grace", "CTO", 3),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"candidate": "Ada"}\n{"candidate": \n', "batch.jsonl:2:15: not JSON: "),
        ('{"candidate": "Ada"}\n["Grace"]\n', "batch.jsonl:2:1: each line must be a JSON object"),
        ('{"candidate": "Ada"}\n{"candidate": "B", "rol": "x"}\n', "batch.jsonl:2: unknown input 'rol'"),
        ('{"candidate": "Ada"}\n{"role": "x"}\n', "batch.jsonl:2: workflow 'screening' needs input 'candidate'"),
        ('{"candidate": "Ada", "max_score": 0}\n', "batch.jsonl:1: input 'max_score' is invalid: 0 is less than the minimum of 1"),
        ("\n\n", "batch.jsonl: no input lines"),
    ],
    ids=["bad_json", "not_an_object", "unknown_input", "missing_input", "schema", "empty"],
)  # fmt: skip
def test_jsonl_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        parse_inputs(WORKFLOW, [], path)
    assert str(info.value).startswith(f"{tmp_path}/{message}"), str(info.value)


def test_a_json_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(
        UsageError, match=r"inputs\.json:1:1: the inputs file must hold a JSON object"
    ):
        parse_inputs(WORKFLOW, [], path)


def test_a_json_file_with_a_syntax_error_points_at_it(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_text('{\n  "candidate": "Ada",\n}\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"inputs\.json:3:1: not JSON: "):
        parse_inputs(WORKFLOW, [], path)


def test_a_missing_inputs_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read inputs"):
        parse_inputs(WORKFLOW, [], tmp_path / "nope.json")

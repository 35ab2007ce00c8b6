"""The workflow JSON Schema and the diagnostics `validate_document` makes from it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow.errors import Diagnostic, WorkflowInvalid
from agentflow.loading import load_document, load_text, yaml_loader
from agentflow.schema import explain, workflow
from agentflow.schema.fastcheck import Unsupported, compile_check
from agentflow.schema.resources import load_schema, schema_text
from agentflow.schema.suggest import did_you_mean

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus" / "invalid"

BASE = """\
version: 1
name: demo
agents:
  screen:
    model: openai/gpt-4o-mini
    prompt: Score the candidate.
"""


def check(text: str) -> list[Diagnostic]:
    return workflow.validate_document(load_text(text, "wf.yaml"))


def only(text: str) -> Diagnostic:
    found = check(text)
    assert len(found) == 1, [d.render() for d in found]
    return found[0]


# -- the schema itself ------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema("workflow.schema.json")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://agentflow.dev/schemas/workflow.schema.json"
    jsonschema.Draft202012Validator.check_schema(schema)
    meta = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
    assert list(meta.iter_errors(schema)) == []


def _walk_properties(schema: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """(where, property schema, object schema) for every property declared in `schema`."""
    found = []
    if not isinstance(schema, dict):
        return found
    for name, sub in schema.get("properties", {}).items():
        found.append((f"{where}.{name}", sub, schema))
        found.extend(_walk_properties(sub, f"{where}.{name}"))
    for name, sub in schema.get("$defs", {}).items():
        found.extend(_walk_properties(sub, f"{where}$defs.{name}"))
    for keyword in ("items", "additionalProperties", "propertyNames"):
        found.extend(_walk_properties(schema.get(keyword), f"{where}/{keyword}"))
    for keyword in ("anyOf", "oneOf"):
        for index, sub in enumerate(schema.get(keyword, [])):
            found.extend(_walk_properties(sub, f"{where}/{keyword}[{index}]"))
    return found


def test_every_property_has_a_title_and_a_description() -> None:
    properties = _walk_properties(load_schema("workflow.schema.json"))
    assert len(properties) > 80
    for where, sub, _ in properties:
        assert isinstance(sub, dict), where
        assert sub.get("title"), f"{where} has no title"
        assert sub.get("description"), f"{where} has no description"


def test_every_object_with_properties_is_closed() -> None:
    properties = _walk_properties(load_schema("workflow.schema.json"))
    for where, _, parent in properties:
        if parent.get("title") == "Parameters" or where.endswith("parameters.type"):
            continue  # a tool's parameters are a user's JSON Schema: open by nature
        assert parent.get("additionalProperties") is False, where


def test_durations_share_one_definition() -> None:
    text = schema_text("workflow.schema.json")
    assert text.count('"anyOf"') >= 1
    schema = json.loads(text)
    assert "duration" in schema["$defs"]
    # agent, defaults and tool timeouts, the two retry delays, the cache's ttl, and an MCP
    # server's timeout and start_timeout
    assert text.count('"$ref": "#/$defs/duration"') == 8
    durations = jsonschema.Draft202012Validator(schema["$defs"]["duration"])
    for good in [1, 0.5, "500ms", "90s", "2m", "1h", "1.5s", "7d", "2w"]:
        assert durations.is_valid(good), good
    for bad in [0, 0.0, -1, "0s", "0ms", "0.0m", "5 minutes", "10", "0d", "1y", "s", True, None]:
        assert not durations.is_valid(bad), bad


def test_schema_resources_find_the_checkout_file() -> None:
    assert schema_text("workflow.schema.json") == (
        REPO / "schemas" / "workflow.schema.json"
    ).read_text(encoding="utf-8")
    first = load_schema("workflow.schema.json")
    first["title"] = "changed"
    assert load_schema("workflow.schema.json")["title"] != "changed"
    with pytest.raises(FileNotFoundError):
        schema_text("nope.schema.json")
    with pytest.raises(ValueError):
        schema_text("../pyproject.toml")


def test_schema_resources_prefer_the_copy_inside_the_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentflow.schema import resources

    (tmp_path / "_schemas").mkdir()
    (tmp_path / "_schemas" / "workflow.schema.json").write_text('{"packaged": true}')
    monkeypatch.setattr(resources.resources, "files", lambda package: tmp_path)
    resources._read.cache_clear()
    try:
        assert load_schema("workflow.schema.json") == {"packaged": True}
    finally:
        resources._read.cache_clear()


def test_example_workflows_are_valid() -> None:
    examples = sorted((REPO / "workflows").glob("*.yaml"))
    assert examples
    for path in examples:
        assert workflow.validate_document(load_document(path)) == [], path


# -- messages, one kind at a time -------------------------------------------------------------


def test_unknown_key_points_at_the_key_and_suggests() -> None:
    diag = only(BASE + "    promt: hello\n")
    assert diag.message == "unknown key 'promt' in agent 'screen'; did you mean 'prompt'?"
    assert (diag.file, diag.line, diag.column) == ("wf.yaml", 7, 5)
    assert diag.path == "agents.screen.promt"


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    diag = only(BASE + "    colour: blue\n")
    assert diag.message.startswith("unknown key 'colour' in agent 'screen'; valid keys: ")
    assert "prompt" in diag.message and "max_tokens" in diag.message


@pytest.mark.parametrize("key", ["depends_on", "dependencies", "after", "Depends-On"])
def test_another_tools_name_for_needs_suggests_needs(key: str) -> None:
    diag = only(BASE + f"    {key}: [other]\n")
    assert diag.message == f"unknown key '{key}' in agent 'screen'; did you mean 'needs'?"
    assert diag.path == f"agents.screen.{key}"
    assert (diag.line, diag.column) == (7, 5)


def test_an_alias_is_only_suggested_where_its_key_is_allowed() -> None:
    # `needs` is not a key of defaults, so depends_on there gets no 'needs' hint.
    diag = only(BASE + "defaults: {depends_on: [x]}\n")
    assert "'needs'" not in diag.message
    assert diag.message.startswith("unknown key 'depends_on' in defaults; ")


def test_unknown_key_in_nested_and_top_level_objects() -> None:
    nested = only(BASE + "    retry: {backof: linear}\n")
    assert (
        nested.message == "unknown key 'backof' in retry of agent 'screen'; did you mean 'backoff'?"
    )
    assert (nested.line, nested.column) == (7, 13)
    top = only(BASE + "agent: {}\n")
    assert top.message == "unknown key 'agent' in the workflow; did you mean 'agents'?"


def test_enum_error_lists_choices_and_suggests() -> None:
    diag = only(BASE + "    retry:\n      backoff: exponental\n")
    assert diag.message == (
        "backoff must be one of exponential, linear, constant; got 'exponental'; "
        "did you mean 'exponential'?"
    )
    assert (diag.line, diag.column) == (8, 16)
    assert diag.path == "agents.screen.retry.backoff"


def test_type_error_names_the_expected_and_the_actual_type() -> None:
    diag = only(BASE + '    max_tokens: "600"\n')
    assert diag.message == "max_tokens must be an integer, got string '600'"
    assert (diag.line, diag.column) == (7, 17)
    assert only(BASE + "    critical: yes\n").message == (
        "critical must be true or false, got string 'yes'"
    )
    assert only(BASE + "    needs: [3]\n").message == "needs[0] must be a string, got integer 3"
    assert only(BASE + "    prompt2: x\n".replace("prompt2: x", "max_tokens:")).message == (
        "max_tokens must be an integer, got an empty value"
    )


def test_missing_required_key_names_the_owner() -> None:
    diag = only("version: 1\nname: demo\nagents:\n  screen:\n    model: m\n")
    assert diag.message == "agent 'screen' has no 'prompt'"
    assert (diag.line, diag.column) == (4, 3)
    assert diag.path == "agents.screen.prompt"


def test_missing_top_level_keys_say_what_to_add() -> None:
    found = check("description: nothing yet\n")
    messages = [d.message for d in found]
    assert "the workflow has no 'version'; add 'version: 1'" in messages
    assert any(m.startswith("the workflow has no 'name'") for m in messages)
    assert any(m.startswith("the workflow has no 'agents'") for m in messages)


def test_duration_errors_collapse_into_one_message() -> None:
    diag = only(BASE + "    timeout: 5 minutes\n")
    assert diag.message == (
        "timeout must be a number of seconds or a string like '500ms', '90s', '2m', '1h'; "
        "got '5 minutes'"
    )
    assert (diag.line, diag.column) == (7, 14)
    assert "got -1" in only(BASE + "    retry: {max_delay: -1}\n").message


ZERO_DURATIONS = ["0", "0.0", '"0s"', '"0ms"', '"0m"', '"0h"', '"0.0s"', '"00s"']


@pytest.mark.parametrize("spelling", ZERO_DURATIONS)
@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        ("    timeout: {v}\n", "agents.screen.timeout"),
        ("    retry: {{initial_delay: {v}}}\n", "agents.screen.retry.initial_delay"),
        ("    retry: {{max_delay: {v}}}\n", "agents.screen.retry.max_delay"),
    ],
)
def test_a_zero_duration_is_refused_whatever_its_spelling(
    spelling: str, snippet: str, path: str
) -> None:
    diag = only(BASE + snippet.format(v=spelling))
    assert diag.path == path
    key = path.rsplit(".", 1)[-1]
    shown = spelling.strip('"')
    shown = f"'{shown}'" if spelling.startswith('"') else shown
    assert diag.message.startswith(f"{key} must be greater than 0, got {shown} (")
    assert diag.line == 7


def test_a_zero_tool_timeout_is_refused() -> None:
    tool = (
        "tools:\n  lookup:\n    description: d\n    parameters: {type: object}\n"
        "    python: tools.hr:lookup\n    timeout: 0ms\n"
    )
    diag = only(BASE + tool)
    assert diag.path == "tools.lookup.timeout"
    assert diag.message == (
        "timeout must be greater than 0, got '0ms' "
        "(a timeout of 0 would fail every call before it starts)"
    )


@pytest.mark.parametrize("spelling", ["0.5s", "1ms", "0.001ms", "10s", "1.0s", "2m", "0.25"])
def test_positive_durations_pass(spelling: str) -> None:
    assert (
        check(BASE + f"    timeout: {spelling}\n    retry: {{initial_delay: {spelling}}}\n") == []
    )


def test_name_patterns_explain_the_allowed_form() -> None:
    name = only(BASE.replace("name: demo", "name: HR Onboarding"))
    assert name.message == (
        "name 'HR Onboarding' is not allowed: use lowercase letters, digits, '_' and '-', "
        "starting with a letter"
    )
    agent = only(BASE.replace("  screen:", "  Screen-Resume:"))
    assert agent.message == (
        "agent id 'Screen-Resume' is not allowed: use lowercase letters, digits and '_', "
        "starting with a letter (e.g. 'screen_resume')"
    )
    assert (agent.line, agent.column) == (4, 3)
    assert agent.path == "agents.Screen-Resume"
    needs = only(BASE + "    needs: [Parse]\n")
    assert needs.message.startswith("needs[0] 'Parse' is not a valid agent id: use lowercase")


def test_trailing_newline_does_not_satisfy_a_name_pattern() -> None:
    assert "is not allowed" in only(BASE.replace("name: demo", 'name: "demo\\n"')).message


def test_tool_needs_exactly_one_of_python_and_command() -> None:
    tool = (
        "tools:\n  lookup:\n    description: d\n    parameters: {type: object}\n"
        "    python: tools.hr:lookup\n"
    )
    both = only(BASE + tool + '    command: ["./x"]\n')
    assert both.message == "tool 'lookup' has both 'python' and 'command'; give exactly one"
    assert both.line == 12
    neither = only(BASE + tool.replace("    python: tools.hr:lookup\n", ""))
    assert neither.message == "tool 'lookup' needs 'python' or 'command'"
    bad = only(BASE + tool.replace("tools.hr:lookup", "tools/hr.py"))
    assert bad.message == "python must look like 'package.module:function'; got 'tools/hr.py'"


def test_numbers_out_of_range() -> None:
    assert only(BASE + "limits:\n  '*': {rpm: 0}\n").message == "rpm must be at least 1, got 0"
    assert only(BASE + "    temperature: 2.5\n").message == "temperature must be at most 2, got 2.5"
    assert only(BASE + "budget: {max_usd: 0}\n").message == "max_usd must be greater than 0, got 0"
    assert only(BASE + "    retry: {max_attempts: 21}\n").message == (
        "max_attempts must be at most 20, got 21"
    )


def test_version_and_empty_agents() -> None:
    assert only(BASE.replace("version: 1", "version: 2")).message == "version must be 1, got 2"
    assert only(BASE.replace("version: 1", "version: true")).message == (
        "version must be 1, got true"
    )
    empty = only("version: 1\nname: demo\nagents: {}\n")
    assert empty.message == "the workflow has no agents; define at least one under 'agents'"


def test_all_errors_are_reported_sorted_by_position() -> None:
    found = check(
        "version: 2\nname: demo\nagents:\n  screen:\n    promt: x\n    max_tokens: many\n"
        "  other:\n    prompt: p\n    retry: {backoff: sometimes}\n"
    )
    assert [(d.line, d.path) for d in found] == [
        (1, "version"),
        (4, "agents.screen.prompt"),
        (5, "agents.screen.promt"),
        (6, "agents.screen.max_tokens"),
        (9, "agents.other.retry.backoff"),
    ]
    assert all(d.file == "wf.yaml" and d.severity == "error" for d in found)


def test_messages_are_single_lines_without_jsonschema_wording() -> None:
    found = check(
        "version: 1\nname: Demo\nagents:\n  a:\n    prompt: [1]\n    tools: [x, x]\n"
        "inputs:\n  n: {type: strng, minimum: low}\n"
    )
    assert len(found) == 5
    for diag in found:
        assert "\n" not in diag.message
        assert "is not valid under any of the given schemas" not in diag.message
        assert "does not match" not in diag.message
    assert "tools lists 'x' more than once" in [d.message for d in found]


# -- the corpus of invalid files --------------------------------------------------------------


def _corpus_problems(path: Path) -> list[Diagnostic]:
    try:
        return workflow.validate_document(load_document(path))
    except WorkflowInvalid as exc:
        return exc.diagnostics


def test_corpus_has_the_expected_cases() -> None:
    names = {p.stem for p in CORPUS.glob("*.yaml")}
    assert len(names) >= 12
    assert {
        "unknown_agent_key", "bad_backoff_enum", "duplicate_key", "alias_bomb", "not_a_mapping",
        "empty", "bad_duration", "tool_both_python_and_command", "name_pattern",
        "missing_prompt", "wrong_type_max_tokens", "bad_limit_value", "non_utf8",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_corpus_file_has_exactly_one_problem(path: Path) -> None:
    (diag,) = _corpus_problems(path)
    assert diag.file == str(path)
    assert diag.line >= 1 and diag.column >= 1


@pytest.mark.parametrize(
    ("stem", "words"),
    [
        ("unknown_agent_key", "did you mean 'prompt'"),
        ("bad_backoff_enum", "did you mean 'exponential'"),
        ("duplicate_key", "duplicate key 'model'"),
        ("alias_bomb", "billion laughs"),
        ("not_a_mapping", "must be a mapping"),
        ("empty", "empty workflow file"),
        ("bad_duration", "'5 minutes'"),
        ("tool_both_python_and_command", "both 'python' and 'command'"),
        ("name_pattern", "name 'HR Onboarding' is not allowed"),
        ("missing_prompt", "has no 'prompt'"),
        ("wrong_type_max_tokens", "got string '600'"),
        ("bad_limit_value", "rpm must be at least 1"),
        ("non_utf8", "not valid UTF-8"),
    ],
)
def test_corpus_messages(stem: str, words: str) -> None:
    (diag,) = _corpus_problems(CORPUS / f"{stem}.yaml")
    assert words in diag.message


# -- suggestions ------------------------------------------------------------------------------


def test_did_you_mean() -> None:
    assert did_you_mean("promt", ["prompt", "model", "system"]) == "prompt"
    assert did_you_mean("Screen", ["screen", "parse"]) == "screen"
    assert did_you_mean("scren", ["screen", "screening"]) == "screen"
    assert did_you_mean("colour", ["prompt", "model"]) is None
    assert did_you_mean("prompt", ["prompt"]) is None  # not a typo
    assert did_you_mean("x", []) is None


# -- speed, and the quick check agreeing with jsonschema --------------------------------------


def _big_workflow(agents: int) -> str:
    lines = ["version: 1", "name: big", "defaults:", "  model: openai/gpt-4o-mini", "agents:"]
    for i in range(agents):
        lines += [
            f"  agent_{i}:",
            f'    prompt: "Summarise item {i}: {{{{ inputs.x }}}}"',
            f"    needs: [agent_{max(i - 1, 0)}]" if i else "    critical: false",
            "    retry: {max_attempts: 3, backoff: linear, initial_delay: 500ms}",
            "    max_tokens: 200",
        ]
    return "\n".join(lines) + "\n"


def test_large_workflow_loads_and_validates_quickly() -> None:
    # libyaml does 2,000 agents in ~0.15 s; ruamel's pure-Python parser takes ~1 s.
    budget = 2.0 if yaml_loader._CParser is not None else 6.0
    text = _big_workflow(2_000)
    started = time.perf_counter()
    doc = load_text(text, "big.yaml")
    assert workflow.validate_document(doc) == []
    assert time.perf_counter() - started < budget
    broken = load_text(text.replace("backoff: linear", "backoff: lineal", 1), "big.yaml")
    (diag,) = workflow.validate_document(broken)
    assert diag.path == "agents.agent_0.retry.backoff"


def _jsonschema_valid(value: Any) -> bool:
    return bool(explain._validator().is_valid(value))


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-1, 3)
    | st.sampled_from(
        ["", "x", "500ms", "linear", "fail", "json", "a.b:c", "Bad", "object", "demo"]
    )
)
_key = st.sampled_from(
    ["prompt", "model", "timeout", "retry", "backoff", "max_attempts", "needs", "output",
     "format", "schema", "type", "x", "critical", "max_usd", "warn_at", "rpm", "python",
     "command", "description", "parameters", "tools", "temperature"]
)  # fmt: skip
_tree: st.SearchStrategy[Any] = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_key, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            "version": st.sampled_from([1, 1.0, True, 2]),
            "name": st.sampled_from(["demo", "Demo"]),
            "agents": st.dictionaries(st.sampled_from(["a", "b", "Bad"]), _tree, min_size=1),
        },
        optional={"budget": _tree, "limits": st.dictionaries(_key, _tree), "tools": _tree},
    )
)
def test_quick_check_never_passes_what_jsonschema_rejects(data: dict[str, Any]) -> None:
    fast = workflow._fast_checks()
    assert fast is not None
    if fast.whole(data):
        assert _jsonschema_valid(data)
    # and validation reports something exactly when jsonschema finds the document invalid
    doc = load_text(json.dumps(data), "wf.yaml")
    assert (workflow.validate_document(doc) == []) == _jsonschema_valid(data)


def test_quick_check_refuses_keywords_it_does_not_know() -> None:
    with pytest.raises(Unsupported):
        compile_check(
            {"type": "object", "patternProperties": {"x": {}}, "additionalProperties": False}
        )
    with pytest.raises(Unsupported):
        compile_check({"not": {"type": "string"}})
    assert compile_check({"const": 1})(1.0)
    assert not compile_check({"const": 1})(True)
    assert not compile_check({"pattern": "^a$"})("a\n")
    assert re.search("^a$", "a\n")  # what the check guards against

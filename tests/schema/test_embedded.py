"""JSON Schemas written inside a workflow (outputs, tool parameters, inputs) are checked
against their metaschema before anything runs, with positions inside the file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentflow.errors import Diagnostic, SchemaInvalid
from agentflow.loading import load_text
from agentflow.model.types import OutputSpec, freeze
from agentflow.run.output import parse_output
from agentflow.schema import embedded, workflow
from agentflow.schema.instance import instance_errors
from tests.run.test_engine import agent, run
from tests.run.test_engine import workflow as make_workflow

HEAD = """\
version: 1
name: demo
defaults: {model: openai/gpt-4o-mini}
"""

OUTPUT = (
    HEAD
    + """\
agents:
  parse:
    prompt: Extract the name.
    output:
      format: json
      schema:
        type: object
        properties:
          name: {type: %s}
"""
)


def check(text: str) -> list[Diagnostic]:
    return workflow.validate_document(load_text(text, "wf.yaml"))


def only(text: str) -> Diagnostic:
    found = check(text)
    assert len(found) == 1, [d.render() for d in found]
    return found[0]


def test_a_misspelt_type_in_an_output_schema_points_inside_it_and_suggests() -> None:
    diag = only(OUTPUT % "strin")
    assert diag.message == (
        "type must be one of array, boolean, integer, null, number, object, string; "
        "got 'strin'; did you mean 'string'?"
    )
    assert (diag.file, diag.line, diag.column) == ("wf.yaml", 12, 24)
    assert diag.path == "agents.parse.output.schema.properties.name.type"
    assert diag.severity == "error"


def test_a_type_that_does_not_exist_lists_the_types() -> None:
    diag = only(OUTPUT % "money")
    assert diag.message == (
        "type must be one of array, boolean, integer, null, number, object, string; got 'money'"
    )


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        (
            "{type: object, required: name}",
            "required",
            "required must be a list, got string 'name'",
        ),
        (
            "{type: object, properties: [a, b]}",
            "properties",
            "properties must be a mapping, got a list",
        ),
        ("{type: object, required: [a, a]}", "required", "required lists 'a' more than once"),
        ("{type: string, minLength: -1}", "minLength", "minLength must be at least 0, got -1"),
        (
            "{type: string, pattern: '[a-'}",
            "pattern",
            "pattern '[a-' is not a valid regular expression",
        ),
        ("{type: [string, strng]}", "type[1]", None),
        (
            "{type: array, items: [{type: string}]}",
            "items",
            "items must be a mapping or true or false, got a list",
        ),
        ("{anyOf: []}", "anyOf", "anyOf must not be empty"),
    ],
)
def test_metaschema_errors_in_tool_parameters_and_outputs(
    schema: str, path: str, message: str | None
) -> None:
    text = HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {schema}}}\n"
    diag = only(text)
    assert diag.path == f"agents.a.output.schema.{path}"
    assert diag.line == 7
    if message is not None:
        assert diag.message == message
    else:
        assert diag.message.endswith("got 'strng'; did you mean 'string'?")


def test_tool_parameters_are_checked_at_the_key_inside_them() -> None:
    text = (
        HEAD
        + """\
tools:
  lookup:
    description: Look an employee up.
    parameters:
      type: object
      properties:
        employee_id: {type: strng}
      required: employee_id
    python: tools.hr:lookup
agents:
  a: {prompt: p, tools: [lookup]}
"""
    )
    found = check(text)
    assert [(d.path, d.line, d.column) for d in found] == [
        ("tools.lookup.parameters.properties.employee_id.type", 10, 29),
        ("tools.lookup.parameters.required", 11, 17),
    ]
    assert "did you mean 'string'?" in found[0].message


def test_an_inputs_nested_schema_is_checked_but_its_own_keys_are_reported_once() -> None:
    text = HEAD + (
        "inputs:\n  rec: {type: objct, properties: {a: {type: strng}}}\nagents:\n  a: {prompt: p}\n"
    )
    found = check(text)
    assert [d.path for d in found] == ["inputs.rec.type", "inputs.rec.properties.a.type"]
    assert all("did you mean" in d.message for d in found)


def test_a_ref_that_points_at_nothing_is_an_error_with_a_suggestion() -> None:
    schema = "{$defs: {address: {type: object}}, properties: {home: {$ref: '#/$defs/adress'}}}"
    diag = only(
        HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {schema}}}\n"
    )
    assert diag.message == (
        "$ref '#/$defs/adress' points at nothing: '#/$defs' has no 'adress'; "
        "did you mean '#/$defs/address'?"
    )
    assert diag.code == "schema_ref"


@pytest.mark.parametrize(
    "ref", ["#/$defs/address", "#", "#home", "https://json-schema.org/draft/2020-12/schema"]
)
def test_refs_that_resolve_pass(ref: str) -> None:
    schema = (
        "{$defs: {address: {$anchor: home, type: object}}, "
        f"properties: {{home: {{$ref: '{ref}'}}}}}}"
    )
    assert (
        check(
            HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {schema}}}\n"
        )
        == []
    )


def test_a_remote_ref_cannot_be_followed() -> None:
    schema = "{properties: {home: {$ref: 'https://example.com/address.json'}}}"
    diag = only(
        HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {schema}}}\n"
    )
    assert diag.message.startswith("$ref 'https://example.com/address.json' cannot be resolved")


def test_an_unknown_schema_draft_is_an_error_and_a_known_one_is_used() -> None:
    unknown = "{$schema: 'https://example.com/my-draft', type: object}"
    diag = only(
        HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {unknown}}}\n"
    )
    assert diag.message.startswith(
        "$schema 'https://example.com/my-draft' is not a JSON Schema draft"
    )
    # Draft 7 allows a list for `items`; 2020-12 does not.
    draft7 = (
        "{$schema: 'http://json-schema.org/draft-07/schema#', type: array, items: [{type: string}]}"
    )
    assert (
        check(
            HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {draft7}}}\n"
        )
        == []
    )


def test_a_misspelt_keyword_is_a_warning_with_a_suggestion() -> None:
    schema = "{type: object, propertes: {name: {type: string}}, requried: [name]}"
    found = check(
        HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {schema}}}\n"
    )
    assert [(d.severity, d.message.split(";")[1].strip()) for d in found] == [
        ("warning", "did you mean 'properties'? (an unknown keyword checks nothing)"),
        ("warning", "did you mean 'required'? (an unknown keyword checks nothing)"),
    ]
    assert found[0].path == "agents.a.output.schema.propertes"
    # A keyword far from any known one, or an extension, is left alone.
    quiet = "{type: object, discriminator: x, x-order: 1, nullable: true}"
    assert (
        check(
            HEAD + f"agents:\n  a:\n    prompt: p\n    output: {{format: json, schema: {quiet}}}\n"
        )
        == []
    )


def test_valid_schemas_in_the_examples_pass_without_jsonschema_being_consulted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentflow.schema import explain

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the quick walk should have been sure")

    monkeypatch.setattr(explain, "explain_schema", refuse)
    text = (
        HEAD
        + """\
tools:
  lookup:
    description: d
    parameters:
      type: object
      properties:
        id: {type: string, pattern: "^E[0-9]{4}$", examples: [E1002]}
        limit: {type: integer, minimum: 1, maximum: 50, default: 10}
      required: [id]
      additionalProperties: false
    python: tools.hr:lookup
agents:
  a:
    prompt: p
    tools: [lookup]
    output:
      format: json
      schema:
        type: object
        required: [lines]
        properties:
          lines:
            type: array
            minItems: 1
            items:
              type: object
              properties:
                amount: {type: number, exclusiveMinimum: 0}
                sku: {anyOf: [{type: string}, {type: "null"}]}
"""
    )
    assert check(text) == []


# -- the quick walk agrees with jsonschema ----------------------------------------------------

_leaf = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["string", "strin", "integer", "object", 3])}),
    st.fixed_dictionaries({"minLength": st.sampled_from([0, 2, -1, 1.5, True])}),
    st.fixed_dictionaries({"required": st.sampled_from([["a"], ["a", "a"], "a", [1]])}),
    st.fixed_dictionaries({"pattern": st.sampled_from(["^a$", "[a-", "(x"])}),
    st.fixed_dictionaries({"enum": st.sampled_from([[1, 2], "x", []])}),
    st.fixed_dictionaries({"multipleOf": st.sampled_from([2, 0, -1, 0.5])}),
    st.booleans(),
)
_schemas = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"properties": st.dictionaries(st.sampled_from("abc"), inner)}),
        st.fixed_dictionaries({"items": inner}),
        st.fixed_dictionaries({"anyOf": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=6,
)


@settings(max_examples=100, deadline=None)
@given(_schemas)
def test_a_schema_is_reported_exactly_when_jsonschema_rejects_it(schema: object) -> None:
    import jsonschema

    document = {"agents": {"a": {"output": {"schema": {"type": "object", "allOf": [schema]}}}}}
    doc = load_text("version: 1\n", "wf.yaml")
    doc = type(doc)(doc.path, document, doc.source)
    (found,) = embedded.embedded_schemas(document)
    errors = [d for d in embedded.check_schema(doc, found) if d.severity == "error"]
    meta = jsonschema.Draft202012Validator(
        jsonschema.Draft202012Validator.META_SCHEMA,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    assert bool(errors) == (not meta.is_valid(found.schema)), errors


# -- at run time --------------------------------------------------------------------------------

BAD = freeze({"type": "object", "properties": {"name": {"type": "strin"}}})


def test_a_bad_schema_at_run_time_is_one_line_not_a_jsonschema_dump() -> None:
    with pytest.raises(SchemaInvalid) as caught:
        instance_errors(BAD, {"name": "Ada"})
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        "a JSON Schema of the workflow is not valid (properties.name.type: type must be one "
        "of array, boolean, integer, null, number, object, string; got 'strin'; did you mean "
        "'string'?); `agentflow validate` shows the line"
    )
    with pytest.raises(SchemaInvalid):
        parse_output(OutputSpec("json", BAD), '{"name": "Ada"}')


def test_an_agent_with_a_bad_output_schema_fails_as_schema_invalid_not_internal_error() -> None:
    result, recorder, _ = run(make_workflow(agent("parse", output=OutputSpec("json", BAD))))
    failed = recorder.of("agent.failed", "parse").data
    assert failed["error_class"] == "schema_invalid"
    assert "\n" not in failed["message"]
    assert "did you mean 'string'?" in failed["message"]
    assert result.exit_code == 1


def test_a_dangling_ref_at_run_time_is_one_line() -> None:
    with pytest.raises(SchemaInvalid) as caught:
        instance_errors(freeze({"$ref": "#/$defs/missing"}), 1)
    assert "\n" not in str(caught.value)
    assert "points at nothing" in str(caught.value)

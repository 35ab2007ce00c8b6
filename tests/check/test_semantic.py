"""Semantic checks through `agentflow.core.analyze`: code, line, column and message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agentflow.core import analyze
from agentflow.errors import Diagnostic

HEAD = "version: 1\nname: case\ndefaults: {model: openai/gpt-4o-mini}\n"


def _diagnostics(tmp_path: Path, body: str, head: str = HEAD) -> list[Diagnostic]:
    path = tmp_path / "wf.yaml"
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return list(analyze(path).diagnostics)


def _one(tmp_path: Path, body: str, head: str = HEAD) -> Diagnostic:
    (diagnostic,) = _diagnostics(tmp_path, body, head)
    return diagnostic


def _where(d: Diagnostic) -> tuple[str, int, int, str]:
    return d.code, d.line, d.column, d.path


def test_a_valid_file_has_no_diagnostics_and_a_workflow(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        HEAD + "agents:\n  a:\n    prompt: Hi.\n  b:\n    prompt: '{{ agents.a.output }}'\n"
    )
    result = analyze(path)
    assert result.diagnostics == ()
    assert result.workflow is not None
    assert result.workflow.agent("b").depends_on == ("a",)


def test_unknown_needs_suggests_the_nearest_agent(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "agents:\n  parse:\n    prompt: P.\n  screen:\n    needs: [prase]\n    prompt: S.\n",
    )
    assert _where(d) == ("unknown_agent", 8, 13, "agents.screen.needs[0]")
    assert d.message == "unknown agent 'prase'; did you mean 'parse'?"


def test_unknown_needs_without_a_near_name_lists_the_agents(tmp_path: Path) -> None:
    d = _one(
        tmp_path, "agents:\n  parse:\n    prompt: P.\n  screen:\n    needs: [zzz]\n    prompt: S.\n"
    )
    assert d.message == "unknown agent 'zzz'; known agents: parse, screen"


def test_self_dependency_through_needs(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    needs: [a]\n    prompt: P.\n")
    assert _where(d) == ("self_dependency", 6, 13, "agents.a.needs[0]")
    assert d.message == "agent 'a' needs itself"


def test_self_dependency_through_a_template(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: 'Again: {{ agents.a.output }}'\n")
    assert _where(d) == ("self_dependency", 6, 13, "agents.a.prompt")
    assert d.message == "agent 'a' refers to its own output"


def test_a_cycle_names_its_path_and_lines(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        """\
        agents:
          a:
            needs: [c]
            prompt: A.
          b:
            prompt: "{{ agents.a.output }}"
          c:
            needs: [b]
            prompt: C.
        """,
    )
    assert _where(d) == ("cycle", 5, 3, "agents.a")
    assert d.message == (
        "dependency cycle: a -> c -> b -> a; defined at a (line 5), c (line 10), b (line 8)"
    )


def test_a_cycle_made_only_of_template_references(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "agents:\n  draft:\n    prompt: '{{ agents.review.output }}'\n"
        "  review:\n    prompt: '{{ agents.draft.output }}'\n",
    )
    assert d.code == "cycle"
    assert "draft -> review -> draft" in d.message


def test_template_referring_to_an_unknown_agent(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "agents:\n  parse:\n    prompt: P.\n  screen:\n    prompt: '{{ agents[\"pars\"].output }}'\n",
    )
    assert _where(d) == ("unknown_agent", 8, 13, "agents.screen.prompt")
    assert d.message == "template refers to unknown agent 'pars'; did you mean 'parse'?"


def test_template_reading_something_other_than_output(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "agents:\n  parse:\n    prompt: P.\n  screen:\n    prompt: '{{ agents.parse.outptu }}'\n",
    )
    assert d.code == "unknown_attribute"
    assert d.message == (
        "agents.parse.outptu is not available; templates can read agents.parse.output"
    )


def test_template_referring_to_an_unknown_input(tmp_path: Path) -> None:
    head = HEAD + "inputs:\n  candidate: {type: string}\n"
    d = _one(
        tmp_path, "agents:\n  a:\n    system: 'About {{ inputs.candiate }}'\n    prompt: P.\n", head
    )
    assert _where(d) == ("unknown_input", 8, 13, "agents.a.system")
    assert d.message == "template refers to unknown input 'candiate'; did you mean 'candidate'?"


def test_template_with_no_inputs_declared(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: '{{ inputs.x }}'\n")
    assert d.message == "template refers to unknown input 'x'; known inputs: none are declared"


def test_an_unknown_name_suggests_a_context_name(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: '{{ input.x }}'\n")
    assert d.code == "unknown_name"
    assert d.message == "unknown name 'input' in template; did you mean 'inputs'?"


def test_a_jinja_syntax_error_on_the_first_line(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: 'Hi {{ inputs.x }'\n")
    assert _where(d) == ("template_syntax", 6, 13, "agents.a.prompt")
    assert d.message == "template syntax error on line 1 of the template: unexpected '}'"


def test_a_jinja_syntax_error_in_a_block_scalar_points_at_its_line(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        """\
        agents:
          a:
            prompt: |
              Line one.
              Line two.
              Broken {{ x }
        """,
    )
    assert d.code == "template_syntax"
    assert "line 3 of the template" in d.message
    assert d.line == 9  # the line that holds the broken expression, not the '|'


def test_item_outside_for_each(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: 'Note in {{ item }}'\n")
    assert _where(d) == ("item_outside_for_each", 6, 13, "agents.a.prompt")
    assert d.message == "'item' is only defined in agents with for_each"
    found = _diagnostics(tmp_path, "agents:\n  a:\n    prompt: '{{ item }} {{ index }}'\n")
    assert [x.code for x in found] == ["item_outside_for_each", "item_outside_for_each"]


def test_item_is_not_defined_in_when_or_outputs(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        "agents:\n  a:\n    for_each: '{{ [1, 2] }}'\n    when: '{{ item }}'\n    prompt: '{{ item }}'\n"
        "outputs:\n  x: '{{ index }}'\n",
    )
    assert [(x.code, x.path) for x in found] == [
        ("item_outside_for_each", "agents.a.when"),
        ("item_outside_for_each", "outputs.x"),
    ]


def test_the_jinja_loop_variable_is_allowed(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        "agents:\n  a:\n    prompt: '{% for s in [1, 2] %}{{ loop.index }}: {{ s }} {% endfor %}'\n",
    )
    assert found == []


def test_unknown_tool_suggests_the_nearest(tmp_path: Path) -> None:
    head = HEAD + (
        "tools:\n  lookup_employee:\n    description: Find.\n"
        "    parameters: {type: object}\n    command: [python3]\n"
    )
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\n    tools: [lookup_employe]\n", head)
    assert _where(d) == ("unknown_tool", 12, 13, "agents.a.tools[0]")
    assert d.message == "unknown tool 'lookup_employe'; did you mean 'lookup_employee'?"


def test_unknown_tool_when_none_are_declared(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\n    tools: [search]\n")
    assert d.message == "unknown tool 'search'; known tools: none are declared"


def test_no_model_anywhere(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\n", head="version: 1\nname: case\n")
    assert _where(d) == ("no_model", 4, 3, "agents.a")
    assert d.message == "agent 'a' has no model; set defaults.model or agents.a.model"


def test_output_schema_needs_json(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "agents:\n  a:\n    prompt: P.\n    output: {format: text, schema: {type: object}}\n",
    )
    assert _where(d) == ("schema_needs_json", 7, 36, "agents.a.output.schema")
    assert d.message == "an output schema needs format: json"


def test_an_output_schema_alone_means_json(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(HEAD + "agents:\n  a:\n    prompt: P.\n    output: {schema: {type: object}}\n")
    workflow = analyze(path).workflow
    assert workflow is not None
    assert workflow.agent("a").output.format == "json"


def test_max_parallel_without_for_each_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(HEAD + "agents:\n  a:\n    prompt: P.\n    max_parallel: 2\n")
    result = analyze(path)
    (d,) = result.diagnostics
    assert (d.severity, d.code, d.line, d.column) == ("warning", "unused", 7, 19)
    assert result.workflow is not None  # warnings do not stop the build


def test_input_default_that_breaks_its_schema(tmp_path: Path) -> None:
    head = HEAD + "inputs:\n  langs: {type: array, items: {type: string}, default: [en, 3]}\n"
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\n", head)
    assert (d.code, d.line, d.path) == ("invalid", 5, "inputs.langs.default")
    assert d.message.startswith("default of input 'langs' is invalid: ")
    assert d.message.endswith("3 is not of type 'string'")


def test_unknown_price_under_a_budget_is_an_error(tmp_path: Path) -> None:
    head = "version: 1\nname: case\nbudget: {max_usd: 1}\n"
    d = _one(tmp_path, "agents:\n  a:\n    model: my-local/model\n    prompt: P.\n", head)
    assert _where(d) == ("unknown_price", 6, 12, "agents.a.model")
    assert d.severity == "error"
    assert "cannot run under a budget" in d.message
    assert 'add pricing: {"my-local/model":' in d.message


def test_unknown_price_under_an_agent_budget_is_an_error(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "agents:\n  a:\n    model: my-local/model\n    budget: {max_usd: 1}\n    prompt: P.\n",
        head="version: 1\nname: case\n",
    )
    assert (d.code, d.severity) == ("unknown_price", "error")


def test_unknown_price_without_a_budget_is_one_warning_per_model(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        "agents:\n  a:\n    prompt: P.\n  b:\n    prompt: Q.\n",
        head="version: 1\nname: case\ndefaults: {model: my-local/model}\n",
    )
    assert [(d.code, d.severity, d.line) for d in found] == [("unknown_price", "warning", 3)]
    assert (
        found[0].message
        == "model 'my-local/model' has no known price; its cost will show as unknown"
    )


def test_pricing_makes_an_unknown_model_budgetable(tmp_path: Path) -> None:
    head = (
        "version: 1\nname: case\nbudget: {max_usd: 1}\n"
        "pricing:\n  my-local/model: {input: 0, output: 0}\n"
    )
    assert (
        _diagnostics(tmp_path, "agents:\n  a:\n    model: my-local/model\n    prompt: P.\n", head)
        == []
    )


def test_python_tool_whose_module_is_missing(tmp_path: Path) -> None:
    head = HEAD + (
        "tools:\n  lookup:\n    description: Find.\n"
        "    parameters: {type: object}\n    python: tools.nothere:lookup\n"
    )
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\n    tools: [lookup]\n", head)
    assert _where(d) == ("tool_handler", 8, 13, "tools.lookup.python")
    assert d.message.startswith("tool 'lookup': module 'tools.nothere' not found: no file ")
    assert d.message.endswith("tools/nothere.py")


def test_python_tool_whose_function_is_missing(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "hr.py").write_text("def lookup_employee(employee_id): return {}\n")
    head = HEAD + (
        "tools:\n  lookup:\n    description: Find.\n"
        "    parameters: {type: object}\n    python: tools.hr:lookup_employe\n"
    )
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\n    tools: [lookup]\n", head)
    assert d.code == "tool_handler"
    assert "lookup_employe" in d.message


def test_command_tool_that_does_not_exist(tmp_path: Path) -> None:
    head = HEAD + (
        "tools:\n  lookup:\n    description: Find.\n"
        "    parameters: {type: object}\n    command: ['./nothere.sh']\n"
    )
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\n", head)
    assert (d.code, d.path) == ("tool_handler", "tools.lookup.command")
    assert "nothere.sh" in d.message


def test_outputs_are_checked_like_prompts(tmp_path: Path) -> None:
    d = _one(tmp_path, "agents:\n  a:\n    prompt: P.\noutputs:\n  x: '{{ agents.b.output }}'\n")
    assert _where(d) == ("unknown_agent", 8, 6, "outputs.x")


def test_diagnostics_come_in_file_order(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        "agents:\n  a:\n    needs: [zz]\n    prompt: '{{ inputs.q }}'\n  b:\n    tools: [t]\n    prompt: P.\n",
    )
    assert [d.line for d in found] == sorted(d.line for d in found)
    assert [d.code for d in found] == ["unknown_agent", "unknown_input", "unknown_tool"]


def test_defaults_system_templates_are_checked(tmp_path: Path) -> None:
    head = "version: 1\nname: case\ndefaults:\n  model: openai/gpt-4o-mini\n  system: 'You are {{ inputs.persona '\n"
    found = _diagnostics(tmp_path, "agents:\n  a:\n    prompt: P.\n", head)
    assert [d.code for d in found] == ["template_syntax"]
    assert found[0].line == 5


def test_defaults_system_references_are_dependencies(tmp_path: Path) -> None:
    head = "version: 1\nname: case\ndefaults:\n  model: openai/gpt-4o-mini\n  system: 'Context: {{ agents.parse.output }}'\n"
    path = tmp_path / "wf.yaml"
    path.write_text(
        head + "agents:\n  parse:\n    system: Plain.\n    prompt: P.\n  screen:\n    prompt: S.\n"
    )
    result = analyze(path)
    assert result.workflow is not None, result.diagnostics
    assert result.workflow.agent("screen").depends_on == ("parse",)


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_have_no_diagnostics(example: Path) -> None:
    assert analyze(example).diagnostics == ()


# -- when / for_each are templates -----------------------------------------------------------


def test_a_bare_when_is_an_error_with_the_fix(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "agents:\n  screen:\n    prompt: S.\n  notify:\n"
        "    when: agents.screen.output.score >= 7\n    prompt: N.\n",
    )
    assert _where(d) == ("not_a_template", 8, 11, "agents.notify.when")
    assert d.severity == "error"
    assert d.message == (
        "when is a plain string, so it would always be true; "
        'write "{{ agents.screen.output.score >= 7 }}"'
    )


def test_a_bare_for_each_is_an_error_with_the_fix(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "inputs:\n  langs: {type: array}\nagents:\n  each:\n"
        "    for_each: inputs.langs\n    prompt: '{{ item }}'\n",
    )
    assert _where(d) == ("not_a_template", 8, 15, "agents.each.for_each")
    assert d.message.endswith('write "{{ inputs.langs }}"')


def test_a_for_each_that_renders_text_is_an_error(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "inputs:\n  langs: {type: array}\nagents:\n  each:\n"
        "    for_each: 'langs: {{ inputs.langs }}'\n    prompt: '{{ item }}'\n",
    )
    assert d.code == "not_a_template" and "not a list" in d.message


def test_a_when_with_text_around_its_expression_is_a_warning(tmp_path: Path) -> None:
    d = _one(
        tmp_path,
        "inputs:\n  a: {type: boolean}\n  b: {type: boolean}\nagents:\n  x:\n"
        "    when: '{{ inputs.a }} and {{ inputs.b }}'\n    prompt: P.\n",
    )
    assert (d.code, d.severity) == ("not_a_template", "warning")


# -- filters and tests -----------------------------------------------------------------------


def test_unknown_filters_and_tests_are_errors_with_their_line(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        "inputs:\n  name: {type: string}\nagents:\n  a:\n    prompt: |\n      Hello\n"
        "      {{ inputs.name | uper }}\n      {% if inputs.name is defind %}x{% endif %}"
        "{{ inputs.name | shout }}\n",
    )
    assert [(d.code, d.line, d.column) for d in found] == [
        ("unknown_filter", 10, 7),
        ("unknown_filter", 11, 7),
        ("unknown_test", 11, 7),
    ]
    assert (
        found[0].message == "unknown filter 'uper' on line 2 of the template; did you mean 'upper'?"
    )
    assert "unknown filter 'shout' on line 3" in found[1].message
    assert found[2].message == (
        "unknown test 'defind' on line 3 of the template; did you mean 'defined'?"
    )


def test_filters_inside_a_for_each_when_and_outputs_are_checked(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        "inputs:\n  langs: {type: array}\nagents:\n  each:\n"
        "    for_each: '{{ inputs.langs | unqiue }}'\n    when: '{{ inputs.langs is emtpy }}'\n"
        "    prompt: '{{ item }}'\noutputs:\n  n: '{{ agents.each.output | lenght }}'\n",
    )
    assert {(d.code, d.path) for d in found} == {
        ("unknown_filter", "agents.each.for_each"),
        ("unknown_test", "agents.each.when"),
        ("unknown_filter", "outputs.n"),
    }


# -- fields against declared output schemas --------------------------------------------------

PARSE = """\
agents:
  parse:
    prompt: P.
    output:
      schema:
        type: object
        additionalProperties: false
        properties:
          name: {type: string}
          amount: {type: number}
          address: {type: object, additionalProperties: false, properties: {city: {type: string}}}
          lines:
            type: array
            items: {type: object, additionalProperties: false, properties: {sku: {type: string}}}
  loose:
    prompt: L.
    output: {schema: {type: object, properties: {amount: {type: number}}}}
"""


def test_a_field_a_strict_schema_does_not_have_is_an_error_with_did_you_mean(
    tmp_path: Path,
) -> None:
    d = _one(tmp_path, PARSE + "  use:\n    prompt: '{{ agents.parse.output.nme }}'\n")
    assert _where(d) == ("unknown_field", 22, 13, "agents.use.prompt")
    assert d.severity == "error"
    assert d.message == (
        "agents.parse.output.nme: the output schema of 'parse' has no field 'nme'"
        " (additionalProperties: false); did you mean 'name'?"
    )


def test_a_field_a_loose_schema_does_not_declare_is_a_warning(tmp_path: Path) -> None:
    d = _one(tmp_path, PARSE + "  use:\n    prompt: '{{ agents.loose.output.ammount }}'\n")
    assert (d.code, d.severity) == ("unknown_field", "warning")
    assert d.message == (
        "agents.loose.output.ammount: 'ammount' is not declared in the output schema of"
        " 'loose'; did you mean 'amount'?"
    )
    # A guarded read says the field may be absent: no warning.
    assert (
        _diagnostics(
            tmp_path,
            PARSE + "  use:\n    prompt: \"{{ agents.loose.output.extra | default('') }}\"\n",
        )
        == []
    )


def test_nested_fields_and_list_items_are_checked(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        PARSE + "  use:\n    prompt: |\n      {{ agents.parse.output.address.cty }}\n"
        "      {{ agents.parse.output.lines[0].skuu }} {{ agents.parse.output.name.upper() }}\n"
        "      {{ agents.parse.output.amount.value }} {{ agents.parse.output.lines.sku }}\n",
    )
    assert [d.message.split(":")[0] for d in found] == [
        "agents.parse.output.address.cty",
        "agents.parse.output.lines[0].skuu",
        "agents.parse.output.amount is declared as number in the output schema of 'parse'",
        "agents.parse.output.lines is declared as a list (type",
    ]
    assert [d.line for d in found] == [23, 24, 25, 25]
    assert "did you mean 'city'?" in found[0].message
    assert "did you mean 'sku'?" in found[1].message


def test_for_each_items_are_checked_against_the_items_schema(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        PARSE + "  each:\n    for_each: '{{ agents.parse.output.lines }}'\n"
        "    prompt: '{{ item.skuu }}'\n"
        "  bad:\n    for_each: '{{ agents.parse.output.name }}'\n    prompt: '{{ item }}'\n"
        "  after:\n    prompt: '{{ agents.each.output.sku }} {{ agents.each.output[0] }}'\n",
    )
    assert [(d.code, d.path) for d in found] == [
        ("unknown_field", "agents.each.prompt"),
        ("for_each_not_a_list", "agents.bad.for_each"),
        ("unknown_field", "agents.after.prompt"),
    ]
    assert found[0].message == (
        "item.skuu: the items of agents.parse.output.lines has no field 'skuu'"
        " (additionalProperties: false); did you mean 'sku'?"
    )
    assert found[1].message == (
        "for_each must give a list, but agents.parse.output.name is declared as string"
    )
    assert "agents.each.output is a list (agent 'each' runs for_each)" in found[2].message


def test_fields_of_a_text_output_and_of_input_schemas_are_checked(tmp_path: Path) -> None:
    found = _diagnostics(
        tmp_path,
        "inputs:\n  vendor: {type: object, additionalProperties: false,"
        " properties: {name: {type: string}}}\n"
        "agents:\n  note:\n    prompt: N.\n  use:\n"
        "    prompt: '{{ agents.note.output.headline }} {{ inputs.vendor.nmae }}"
        " {{ agents.note.output.strip() }}'\n",
    )
    assert [d.code for d in found] == ["unknown_field", "unknown_field"]
    assert "agents.note.output is text" in found[0].message
    assert "did you mean 'name'?" in found[1].message


def test_run_refuses_a_strict_field_typo_before_any_call(tmp_path: Path) -> None:
    from agentflow.core import load_workflow
    from agentflow.errors import WorkflowInvalid

    path = tmp_path / "wf.yaml"
    path.write_text(HEAD + PARSE + "outputs:\n  total: '{{ agents.parse.output.ammount }}'\n")
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow(path)  # what `run` calls before it starts
    assert "did you mean 'amount'?" in str(info.value.diagnostics[0].message)

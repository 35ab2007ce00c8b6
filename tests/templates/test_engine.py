"""Sandboxed Jinja2 templates: rendering, native evaluation, references and their limits."""

from __future__ import annotations

import pytest

from agentflow.errors import TemplateRenderError
from agentflow.model.types import freeze
from agentflow.templates import TemplateSyntax, evaluate, references, render

CONTEXT = {
    "inputs": {"role": "Backend Engineer", "langs": ["en", "fr"], "score": 8},
    "agents": {"parse": {"output": {"name": "Ada", "skills": ["python", "go"]}}},
}


# -- render ----------------------------------------------------------------------------------


def test_render_substitutes_inputs_and_agent_outputs() -> None:
    text = render("{{ agents.parse.output.name }} for {{ inputs.role }}", CONTEXT)
    assert text == "Ada for Backend Engineer"


def test_render_keeps_a_trailing_newline_of_a_block_scalar() -> None:
    assert render("Hello {{ inputs.role }}\n", CONTEXT) == "Hello Backend Engineer\n"


def test_dicts_and_lists_render_as_json_keeping_unicode() -> None:
    context = {"d": {"name": "Zoë", "n": 1, "ok": True, "none": None}, "l": ["é", 2]}
    assert render("{{ d }} | {{ l }}", context) == (
        '{"name": "Zoë", "n": 1, "ok": true, "none": null} | ["é", 2]'
    )


def test_frozen_values_render_as_json_too() -> None:
    frozen = freeze({"langs": ["en", "fr"], "meta": {"a": 1}})
    assert render("{{ v }}", {"v": frozen}) == '{"langs": ["en", "fr"], "meta": {"a": 1}}'
    assert render("{{ v.langs }}", {"v": frozen}) == '["en", "fr"]'


def test_tojson_filter_indents() -> None:
    assert render("{{ v | tojson(indent=1) }}", {"v": {"a": [1]}}) == '{\n "a": [\n  1\n ]\n}'


def test_loops_with_local_variables_render() -> None:
    source = "{% for s in agents.parse.output.skills %}{{ loop.index }}={{ s }} {% endfor %}"
    assert render(source, CONTEXT) == "1=python 2=go "
    assert render("{% set n = inputs.score * 2 %}{{ n }}", CONTEXT) == "16"


def test_booleans_and_null_render_as_json_like_containers() -> None:
    # A model reads `true`/`null` in a prompt the way the JSON it came from wrote them.
    assert render("{{ a }} {{ b }} {{ c }}", {"a": True, "b": None, "c": 2}) == "true null 2"


# -- evaluate --------------------------------------------------------------------------------


def test_a_lone_expression_evaluates_to_its_native_value() -> None:
    assert evaluate("{{ inputs.langs }}", CONTEXT) == ["en", "fr"]
    assert evaluate("  {{ inputs.score >= 7 }}\n", CONTEXT) is True
    assert evaluate("{{ inputs.score }}", CONTEXT) == 8
    assert evaluate("{{ agents.parse.output }}", CONTEXT) == {
        "name": "Ada",
        "skills": ["python", "go"],
    }


def test_anything_more_than_one_expression_renders_to_text() -> None:
    assert evaluate("score {{ inputs.score }}", CONTEXT) == "score 8"
    assert evaluate("{{ inputs.score }}{{ inputs.score }}", CONTEXT) == "88"
    assert evaluate("{% if true %}{{ inputs.langs }}{% endif %}", CONTEXT) == '["en", "fr"]'


def test_evaluating_an_undefined_name_fails() -> None:
    with pytest.raises(TemplateRenderError, match="undefined value"):
        evaluate("{{ inputs.missing }}", CONTEXT)


def test_evaluating_an_undefined_name_says_which_name() -> None:
    # render() names the missing attribute; a lone expression should too.
    with pytest.raises(TemplateRenderError) as info:
        evaluate("{{ inputs.missing }}", CONTEXT)
    assert "missing" in str(info.value)


# -- strict undefined and the sandbox --------------------------------------------------------


def test_strict_undefined_names_what_is_missing() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render("Hi {{ inputs.nme }}", CONTEXT)
    assert str(info.value) == "undefined value: 'dict object' has no attribute 'nme'"
    with pytest.raises(TemplateRenderError, match="undefined value: 'who' is undefined"):
        render("{{ who }}", CONTEXT)


def test_undefined_is_an_error_even_when_only_tested_in_a_filter() -> None:
    with pytest.raises(TemplateRenderError, match="undefined value"):
        render("{{ inputs.nme | upper }}", CONTEXT)


def test_default_filter_covers_a_missing_value() -> None:
    assert render("{{ inputs.nme | default('n/a') }}", CONTEXT) == "n/a"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ inputs.__class__.__mro__ }}",
        "{{ inputs.role.__class__.__subclasses__() }}",
        "{% for c in ().__class__.__bases__ %}{{ c }}{% endfor %}",
    ],
)
def test_the_sandbox_blocks_dunder_attributes(source: str) -> None:
    with pytest.raises(TemplateRenderError, match=r"not allowed in a template|undefined"):
        render(source, CONTEXT)


@pytest.mark.parametrize("source", ["{{ x.__class__ }}", "{{ inputs.__class__ }}"])
def test_evaluating_a_dunder_attribute_is_a_render_error(source: str) -> None:
    # A lone expression goes through evaluate(); the sandbox's refusal must not escape as a
    # raw jinja2 exception.
    with pytest.raises(TemplateRenderError, match="not allowed in a template"):
        evaluate(source, {"x": 1, **CONTEXT})


def test_the_sandbox_blocks_mutating_methods() -> None:
    with pytest.raises(TemplateRenderError, match="not allowed in a template"):
        render("{{ inputs.langs.append('de') }}", CONTEXT)
    assert CONTEXT["inputs"]["langs"] == ["en", "fr"]


def test_no_environment_or_helper_globals() -> None:
    for name in ("environ", "lipsum", "cycler", "joiner", "namespace", "dict", "config"):
        with pytest.raises(TemplateRenderError, match="is undefined"):
            render("{{ %s }}" % name, {})  # noqa: UP031
    assert render("{{ range(3) | list }}", {}) == "[0, 1, 2]"


def test_a_range_over_the_sandbox_limit_is_refused() -> None:
    # The sandbox caps range() at MAX_RANGE items; without the cap `range(10 ** 9) | list`
    # exhausts memory. Just over the cap keeps this test cheap when the cap is missing.
    from jinja2.sandbox import MAX_RANGE

    with pytest.raises(TemplateRenderError):
        render("{{ range(%d) | list | length }}" % (MAX_RANGE + 1), {})  # noqa: UP031


# -- references ------------------------------------------------------------------------------


def test_references_find_agents_and_inputs_by_attribute_and_by_key() -> None:
    refs = references(
        "{{ agents.parse.output.name }} {{ agents['screen'].output }} {{ inputs[\"role\"] }}"
        " {{ inputs.langs | join(', ') }}"
    )
    assert refs.agents == ("parse", "screen")
    assert refs.inputs == ("role", "langs")
    assert refs.agent_attrs == (("parse", "output"), ("screen", "output"))
    assert refs.names == ("agents", "inputs")


def test_references_inside_blocks_filters_and_nested_expressions() -> None:
    refs = references(
        "{% if agents.screen.output.score >= inputs.threshold %}"
        "{% for s in agents.parse.output.skills %}{{ s | upper }}{% endfor %}"
        "{% endif %}{{ (agents.notes.output | first) }}"
    )
    assert set(refs.agents) == {"screen", "parse", "notes"}
    assert refs.inputs == ("threshold",)


def test_loop_and_set_variables_are_not_free_names() -> None:
    refs = references("{% set n = 2 %}{% for s in inputs.langs %}{{ s }}{{ n }}{% endfor %}")
    assert refs.names == ("inputs",)


def test_the_loop_variable_is_not_a_free_name() -> None:
    refs = references("{% for s in inputs.langs %}{{ loop.index }}. {{ s }}{% endfor %}")
    assert "loop" not in refs.names


def test_references_report_other_attributes_of_an_agent() -> None:
    refs = references("{{ agents.parse.outptu }} {{ item }} {{ index }} {{ whatever }}")
    assert refs.agent_attrs == (("parse", "outptu"),)
    assert refs.names == ("agents", "index", "item", "whatever")


def test_a_dynamic_key_is_not_a_reference() -> None:
    refs = references("{{ agents[inputs.which].output }}")
    assert refs.agents == ()
    assert refs.inputs == ("which",)


# -- syntax errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ("{{ inputs.role }", 1, "unexpected '}'"),
        ("line one\nline two {{ inputs.role }\n", 2, "unexpected '}'"),
        ("a\nb\n{% for x in inputs.langs %}{{ x }}", 3, "'endfor'"),
        ("{% iff true %}{% endif %}", 1, "unknown tag 'iff'"),
    ],
)
def test_syntax_errors_carry_the_template_line(source: str, line: int, words: str) -> None:
    with pytest.raises(TemplateSyntax) as info:
        references(source)
    assert info.value.line == line
    assert words in info.value.message


def test_render_turns_a_syntax_error_into_a_render_error() -> None:
    with pytest.raises(TemplateRenderError, match=r"^template syntax error: unexpected '\}'"):
        render("{{ x }", {"x": 1})

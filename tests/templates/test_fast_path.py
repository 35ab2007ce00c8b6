"""The hand parser for `{{ a.b[0] }}` templates agrees with Jinja on what a template reads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentflow.errors import TemplateRenderError
from agentflow.templates import engine, references, render, simple_lookups
from agentflow.templates.engine import references as cached_references

NAMES = st.sampled_from(["agents", "inputs", "item", "index", "other"])
KEYS = st.sampled_from(["parse", "output", "name", "role", "skills", "x_1"])
PARTS = st.one_of(
    KEYS.map(lambda k: f".{k}"),
    KEYS.map(lambda k: f"['{k}']"),
    KEYS.map(lambda k: f'["{k}"]'),
    st.integers(0, 3).map(lambda i: f"[{i}]"),
)
EXPRS = st.builds(lambda head, parts: head + "".join(parts), NAMES, st.lists(PARTS, max_size=4))
TEXT = st.text(alphabet="abc :,.\n", max_size=8)


@st.composite
def templates(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(TEXT, EXPRS), min_size=1, max_size=4))
    return "".join(f"{text}{{{{ {expr} }}}}" for text, expr in pieces) + draw(TEXT)


@settings(max_examples=150, deadline=None)
@given(templates())
def test_fast_references_equal_jinja_references(template: str) -> None:
    assert simple_lookups(template) is not None
    # Parentheses keep the same meaning but take the template off the fast path.
    through_jinja = cached_references.__wrapped__(
        template.replace("{{ ", "{{ (").replace(" }}", ") }}")
    )
    fast = references(template)
    assert set(fast.agents) == set(through_jinja.agents)
    assert set(fast.inputs) == set(through_jinja.inputs)
    assert set(fast.names) == set(through_jinja.names)
    assert set(fast.agent_attrs) == set(through_jinja.agent_attrs)
    assert {(f.head, f.path, f.line) for f in fast.fields} == {
        (f.head, f.path, f.line) for f in through_jinja.fields
    }


def test_anything_beyond_lookups_leaves_the_fast_path() -> None:
    assert simple_lookups("{{ a | upper }}") is None
    assert simple_lookups("{% if a %}x{% endif %}") is None
    assert simple_lookups("{{ a.b }} and {# note #}") is None
    lookups = simple_lookups("Hi {{ inputs['name'] }}!")
    assert lookups is not None
    assert [(lk.head, lk.path) for lk in lookups] == [("inputs", ("name",))]


CONTEXT = {
    "inputs": {"name": "Ada", "flags": [True, None], "n": 3, "data": {"k": [1, "x"]}},
    "agents": {"parse": {"output": {"skills": ["python", "sql"], "ok": False}}},
    "item": "fr",
}
LOOKUP_TEMPLATES = [
    "Hi {{ inputs.name }}",
    "{{ inputs.flags }} {{ inputs.flags[0] }} {{ inputs.flags[1] }} {{ inputs.n }}",
    "{{ inputs['data'] }} / {{ inputs.data.k[1] }}",
    "{{ agents.parse.output }} {{ agents.parse.output.ok }} {{ item }}",
    "a {{ agents.parse.output.skills[1] }} b\nline two",
]


@pytest.mark.parametrize("template", LOOKUP_TEMPLATES)
def test_fast_rendering_matches_jinja_to_the_character(template: str) -> None:
    through_jinja = engine._compiled(template).render(CONTEXT)
    assert render(template, CONTEXT) == through_jinja


def test_a_missing_key_still_gets_jinjas_explanation() -> None:
    with pytest.raises(TemplateRenderError, match="nope"):
        render("{{ inputs.nope }}", CONTEXT)

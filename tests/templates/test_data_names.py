"""Data names are data: a key called `items`, `keys`, `get`, ... reads the key, in every
consumer of templates (prompt rendering, `for_each`, `when`, `outputs`, the plan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow.core import load_workflow
from agentflow.errors import TemplateRenderError
from agentflow.model.types import freeze
from agentflow.plan.estimate import make_plan
from agentflow.plan.pricing import load_price_book
from agentflow.templates import evaluate, render

METHOD_NAMES = ["items", "keys", "values", "get", "update", "copy", "count", "pop", "setdefault"]


def _data() -> dict[str, object]:
    return {name: f"<{name}>" for name in METHOD_NAMES}


@pytest.mark.parametrize("frozen", [False, True], ids=["dict", "frozen"])
@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_key_named_like_a_dict_method_reads_the_key(name: str, frozen: bool) -> None:
    data = freeze(_data()) if frozen else _data()
    context = {"inputs": data, "agents": {"parse": {"output": data}}}
    expected = f"<{name}>"
    # Attribute and item syntax, on the fast path and through Jinja (a filter takes it there).
    assert render(f"{{{{ inputs.{name} }}}}", context) == expected
    assert render(f"{{{{ agents.parse.output['{name}'] }}}}", context) == expected
    assert render(f"{{{{ inputs.{name} | lower }}}}", context) == expected
    assert render(f"{{{{ agents['parse'].output[\"{name}\"] | upper }}}}", context) == (
        expected.upper()
    )
    assert evaluate(f"{{{{ agents.parse.output.{name} }}}}", context) == expected


def test_for_each_when_and_outputs_see_the_data_not_the_method() -> None:
    context = {
        "inputs": {"items": ["a", "b"], "count": 3, "values": {"x": 1}},
        "agents": {"parse": {"output": freeze({"items": [{"keys": "k"}], "update": True})}},
    }
    assert evaluate("{{ inputs.items }}", context) == ["a", "b"]  # a for_each
    assert evaluate("{{ inputs.count >= 2 and agents.parse.output.update }}", context) is True
    assert evaluate("{{ agents.parse.output.items[0].keys }}", context) == "k"
    assert evaluate("{{ inputs.values }}", context) == {"x": 1}  # an output
    assert render("{% for i in inputs.items %}{{ i }}{% endfor %}", context) == "ab"
    assert render("{{ inputs.items | length }} {{ inputs.values.x }}", context) == "2 1"


@pytest.mark.parametrize("name", ["items", "keys", "get", "update"])
def test_a_missing_key_is_undefined_never_a_method(name: str) -> None:
    for source in (f"{{{{ inputs.{name} }}}}", f"{{{{ inputs['{name}'] | string }}}}"):
        with pytest.raises(TemplateRenderError, match=f"no key '{name}'.*'\\| items'"):
            render(source, {"inputs": {"other": 1}})
    with pytest.raises(TemplateRenderError, match="undefined"):
        evaluate(f"{{{{ inputs.{name} }}}}", {"inputs": {"other": 1}})


def test_a_list_has_no_attributes_only_positions() -> None:
    context = {"inputs": {"langs": ["en", "fr"]}}
    for name in ("count", "index", "copy", "nothing"):
        with pytest.raises(TemplateRenderError):
            render(f"{{{{ inputs.langs.{name} }}}}", context)
    assert render("{{ inputs.langs[1] }} {{ inputs.langs | first }}", context) == "fr en"


def test_looping_over_a_mapping_goes_through_the_items_filter() -> None:
    context = {"inputs": {"totals": {"a": 1, "items": 2}}}
    source = "{% for k, v in inputs.totals | items %}{{ k }}={{ v }};{% endfor %}"
    assert render(source, context) == "a=1;items=2;"


def test_plan_counts_a_fan_out_over_an_input_named_items(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        "version: 1\nname: fan\ndefaults: {model: openai/gpt-4o-mini}\n"
        "inputs:\n  items: {type: array}\n  keys: {type: string}\n"
        "agents:\n  each:\n    for_each: '{{ inputs.items }}'\n"
        "    prompt: '{{ inputs.keys }}: {{ item }}'\n",
        encoding="utf-8",
    )
    workflow = load_workflow(path)
    plan = make_plan(
        workflow, {"items": ["a", "b", "c"], "keys": "K"}, load_price_book(workflow.pricing)
    )
    (each,) = plan.agents
    assert each.fan_out.known and each.fan_out.count == 3
    assert plan.notes == () or not any("not rendered" in n for n in plan.notes)

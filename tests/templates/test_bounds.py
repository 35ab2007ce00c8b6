"""Templates are bounded: what they build, what they print, and how much work they do.

Each refused template here, unbounded, runs for minutes or exhausts memory; the bounds
refuse it before the value is built, so these tests are fast only when the bounds hold.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from agentflow.errors import TemplateRenderError
from agentflow.templates import (
    INLINE_STEPS,
    MAX_OUTPUT,
    evaluate,
    evaluate_async,
    render,
    render_async,
)
from agentflow.templates.engine import _bounded_run, _jinja_render
from agentflow.templates.sandbox import RenderCancelled

HEAVY = [
    "{{ 'x' * 10**8 }}",
    "{{ 10 ** (10 ** 8) }}",
    "{{ (10 ** 50000) * (10 ** 50000) }}",
    "{{ [1, 2] * 10**8 }}",
    "{% set s = 'x' * 1000000 %}{{ s + s }}",
    "{% set s = 'x' * 1000000 %}{{ s ~ s }}",
    "{% set s = 'x' * 1000000 %}{% set t = s ~ '' %}{{ (t ~ t) | length }}",
    "{{ 'x' | center(10**8) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'.zfill(10**8) }}",
    "{{ '%*d' % (10**8, 1) }}",
    "{{ '%100000000d' % 1 }}",
    "{{ '{:>100000000}'.format(1) }}",
    "{{ '%s' | format('x' * 10**8) }}",
    "{{ ('x' * 1000) | replace('x', 'y' * 10000) }}",
    "{{ ('x' * 1000).replace('x', 'y' * 10000) }}",
    "{{ range(100000) | join('x' * 100000) }}",
    "{{ ('x' * 1000).join(range(2000) | map('string')) }}",
    "{{ ['x' * 1000000] * 1000 }}",
    "{{ (['x' * 1000000] * 1000) | string | length }}",
    "{{ (['x' * 1000000] * 1000) | tojson | length }}",
    "{{ [1] | batch(10**8, 'x') | list }}",
    "{{ [1] | slice(10**8, 'x') | list }}",
    "{{ ('x\\n' * 500000) | indent(10000) }}",
    "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}",
    "{% set s %}{% for i in range(5000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}{{ s|length }}",
]


@pytest.mark.parametrize("source", HEAVY)
def test_a_template_past_a_bound_is_a_template_error(source: str) -> None:
    with pytest.raises(TemplateRenderError, match="template bound exceeded") as info:
        render(source, {})
    assert info.value.error_class == "template_error"


@pytest.mark.parametrize("source", HEAVY[:4])
def test_a_lone_expression_past_a_bound_is_a_template_error_too(source: str) -> None:
    with pytest.raises(TemplateRenderError, match="template bound exceeded"):
        evaluate(source, {})


def test_the_fast_path_bounds_the_rendered_text() -> None:
    context = {"inputs": {"doc": "d" * 600_000}}
    assert len(render("{{ inputs.doc }}", context)) == 600_000
    with pytest.raises(TemplateRenderError, match="rendered text"):
        render("{{ inputs.doc }}{{ inputs.doc }}", context)


def test_up_to_the_bound_is_fine() -> None:
    assert len(render("{{ 'x' * 1000000 }}", {})) == MAX_OUTPUT
    assert render("{{ (10 ** 1000) | string | length }}", {}) == "1001"
    assert render("{{ '%5d|%-3s|' % (42, 'a') }}{{ '{:>4}'.format(7) }}", {}) == "   42|a  |   7"
    assert render("{{ 'ab' | center(6) }}|{{ [1, 2] * 2 }}", {}) == "  ab  |[1, 2, 1, 2]"
    assert render("{{ range(3) | join(', ') }}", {}) == "0, 1, 2"
    # Lazy values (map, select) are read once, measured, and given to the filter whole.
    assert render("{{ range(4) | map('string') | join('-') }}", {}) == "0-1-2-3"
    assert render("{{ range(4) | select('odd') | sum }}", {}) == "4"
    assert render("{{ [[1], [2, 3]] | sum(start=[]) }}", {}) == "[1, 2, 3]"
    assert render("{{ '-'.join(range(3) | map('string')) }}", {}) == "0-1-2"


def test_work_is_counted_in_steps_and_stops_at_the_budget() -> None:
    nested = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateRenderError, match="more than 50,000 steps"):
        render(nested, {}, max_steps=50_000)
    # A macro that calls itself is counted by its calls.
    macro = "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}"
    with pytest.raises(TemplateRenderError):
        render(macro, {}, max_steps=50_000)
    # Comparisons count the items of their operands.
    lists = {"inputs": {"a": list(range(10_000)), "b": list(range(10_000))}}
    compare = "{% for i in range(100) %}{{ inputs.a == inputs.b }}{{ 3 in inputs.a }}{% endfor %}"
    with pytest.raises(TemplateRenderError, match="steps"):
        render(compare, lists, max_steps=50_000)
    assert render("{{ 1 < 2 < 3 }} {{ 'b' in 'abc' }} {{ [1] != [2] }}", {}) == "true true true"
    # Filters count the items they traverse.
    with pytest.raises(TemplateRenderError, match="steps"):
        render(
            "{% for i in range(100) %}{{ inputs.big | sort | length }}{% endfor %}",
            {"inputs": {"big": list(range(10_000))}},
            max_steps=50_000,
        )


def test_a_cancelled_render_stops_at_its_next_step() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RenderCancelled):
        _bounded_run(_jinja_render, "{% for i in range(10) %}{{ i }}{% endfor %}", {}, cancel)


class _ThreadProbe:
    """A context value that records which thread read it."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    @property
    def value(self) -> int:
        self.threads.add(threading.get_ident())
        return 1


def test_a_light_render_stays_on_the_loop_thread_and_a_heavy_one_moves_off() -> None:
    light = "{{ probe.value }}{% for i in range(10) %}{{ i }}{% endfor %}"
    heavy = "{{ probe.value }}{% for i in range(" + str(INLINE_STEPS * 2) + ") %}{% endfor %}done"

    async def both() -> tuple[Any, ...]:
        light_probe, heavy_probe = _ThreadProbe(), _ThreadProbe()
        results = (
            await render_async(light, {"probe": light_probe}),
            await render_async(heavy, {"probe": heavy_probe}),
            await evaluate_async("{{ probe.value + 1 }}", {"probe": light_probe}),
        )
        return *results, light_probe.threads, heavy_probe.threads, threading.get_ident()

    light_text, heavy_text, value, light_threads, heavy_threads, loop_thread = asyncio.run(both())
    assert light_text == "10123456789" and heavy_text == "1done" and value == 2
    assert light_threads == {loop_thread}
    # Read inline first, then again from the start in a worker thread.
    assert loop_thread in heavy_threads and len(heavy_threads) == 2


def test_a_heavy_render_in_the_worker_still_stops_at_a_bound() -> None:
    source = "{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    limit = INLINE_STEPS * 3

    async def run() -> None:
        await render_async(source, {}, max_steps=limit)

    with pytest.raises(TemplateRenderError, match=f"more than {limit:,} steps"):
        asyncio.run(run())

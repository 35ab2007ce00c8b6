"""The template caches hold a whole big file: a second read of its templates never re-parses."""

from __future__ import annotations

from agentflow.templates import engine


def _sources(count: int) -> list[str]:
    return [f"Agent a{i:06d}: read {{{{ agents.a{i + 1:06d}.output }}}}." for i in range(count)]


def test_reading_more_templates_than_the_old_cache_twice_parses_each_once() -> None:
    sources = _sources(40_000)  # above the 16,384 entries a sequential scan used to evict
    engine.simple_lookups.cache_clear()
    engine.references.cache_clear()
    for _ in range(2):  # e.g. the semantic check, then the plan
        for source in sources:
            engine.references(source)
            assert engine.simple_lookups(source) is not None
    assert engine.simple_lookups.cache_info().misses == len(sources)
    assert engine.references.cache_info().misses == len(sources)


def test_the_bound_is_above_the_largest_file_a_workflow_can_be() -> None:
    # 5 MiB at ~50 bytes per agent, with a prompt and a condition each
    assert engine.TEMPLATE_CACHE_SIZE >= 2 * 100_000

"""The run hides its starting objects from the cyclic collector, and gives them back after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agentflow.llm.types import LLMRequest, LLMResponse
from agentflow.run.heap import frozen_heap
from tests.run.test_engine import FakeClient, agent, run, workflow


@pytest.fixture(autouse=True)
def _no_freeze_left_behind() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_objects_alive_at_the_start_are_frozen_until_the_block_ends() -> None:
    before = [object() for _ in range(3)]  # noqa: F841  # alive across the block
    tracked = len(gc.get_objects())
    with frozen_heap():
        assert gc.get_freeze_count() >= tracked - 50
        made_inside = [[] for _ in range(100)]
        assert all(gc.is_tracked(x) for x in made_inside)
        # New objects are not frozen: a collection can still see and free them.
        assert gc.get_freeze_count() < tracked + 50
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_the_host_is_left_in_place() -> None:
    gc.freeze()
    frozen_by_host = gc.get_freeze_count()
    with frozen_heap():
        pass
    assert gc.get_freeze_count() >= frozen_by_host > 0


def test_the_block_gives_objects_back_when_it_raises() -> None:
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_the_engine_runs_its_calls_with_the_heap_frozen_and_thaws_it_after() -> None:
    seen: list[int] = []

    def behaviour(request: LLMRequest, _n: int) -> LLMResponse:
        seen.append(gc.get_freeze_count())
        return LLMResponse("ok", (), 10, 5, request.model, "stop")

    result, _, _ = run(workflow(agent("a"), agent("b", "a")), FakeClient(behaviour))
    assert result.exit_code == 0
    assert len(seen) == 2 and min(seen) > 1000
    assert gc.get_freeze_count() == 0


def test_young_objects_are_collected_less_often_during_the_block_only() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with frozen_heap():
            assert gc.get_threshold() == (10_000, 10, 10)
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(50_000, 5, 5)  # a host that asked for more keeps it
        with frozen_heap():
            assert gc.get_threshold() == (50_000, 5, 5)
    finally:
        gc.set_threshold(*saved)


def test_the_collector_is_paused_in_the_block_and_back_after() -> None:
    from agentflow.run.heap import paused_collector

    assert gc.isenabled()
    with paused_collector():
        assert not gc.isenabled()
        # Reference counting still frees what is not in a cycle.
        ref = [object()]
        del ref
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_collector():
        raise RuntimeError("the block failed")
    assert gc.isenabled()


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_what_the_block_made_waits_for_a_full_collection_and_a_cycle_is_then_freed() -> None:
    import weakref

    from agentflow.run.heap import paused_collector

    with paused_collector():
        kept = [_Node()]
        cycle = weakref.ref(_Node())
    assert not any(o is kept for o in gc.get_objects(generation=0))
    assert any(o is kept for o in gc.get_objects(generation=2))
    gc.collect(0)
    assert cycle() is not None  # not in the young generation any more
    gc.collect()
    assert cycle() is None


def test_a_freeze_the_caller_made_is_left_in_place() -> None:
    from agentflow.run.heap import paused_collector

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_collector():
            kept = [object()]
        assert gc.get_freeze_count() == frozen
        assert kept
    finally:
        gc.unfreeze()


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    from agentflow.run.heap import paused_collector

    gc.disable()
    try:
        with paused_collector():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()

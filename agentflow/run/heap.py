"""Keep the cyclic garbage collector off the objects a run starts with.

A run begins with several hundred thousand long-lived objects: LiteLLM, the OpenAI SDK
and pydantic with their schemas, LiteLLM's price map, the loaded workflows. None of them
becomes garbage during the run, yet every full collection walks all of them again, and a
run allocates fast enough (every LLM call builds thousands of short-lived objects inside
LiteLLM) to trigger one every second or two. Measured on 2,000 calls against a zero-latency
server, those walks took a tenth of the run's CPU time.

`gc.freeze()` moves every object tracked so far into a permanent generation the collector
skips; objects made afterwards are collected as usual, and reference counting frees
everything as always. Cyclic garbage among the frozen objects waits until `unfreeze()`.

The youngest generation is also collected less often: with a hundred calls in flight,
each holding a few thousand objects for a few milliseconds, the default threshold (700
allocations) collects mid-call, so those objects are walked, survive, and are walked
again in the older generations. At 10,000 most of them are freed by reference counting
before any collection sees them, for at most a few MB of cyclic garbage held a little
longer. Together the two changes made 2,000 calls to a zero-latency server about 12%
faster (docs/PERFORMANCE.md, B6).

    with frozen_heap():
        ... the run ...
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Allocations (net of deallocations) between two collections of the youngest generation.
YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects alive now, and collect young objects less often, during the block.

    What a host application that embeds the engine set up is respected: a freeze it made
    is left in place (the block only adds to it), a higher threshold is kept, and the
    thresholds it had are restored afterwards.
    """
    owner = gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if owner:
            gc.unfreeze()


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """No cyclic garbage collection during the block (reference counting frees as always).

    For a short, allocation-heavy step whose objects all stay alive to its end, such as
    loading and planning a 100,000-agent workflow: there every collection walks a heap that
    only grows (a sixth of `agentflow plan`'s CPU time at 50,000 agents, docs/profiles.md).
    The little cyclic garbage made meanwhile waits for the next full collection. A
    collector the caller had turned off stays off.

    Everything the block made is still in the youngest generation at its end, so the first
    young collection afterwards would walk all of it (0.16 s after a 50,000-agent plan).
    It is moved to the oldest generation instead, where it is walked with the rest of the
    heap only when a full collection comes due.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:  # else the caller's frozen objects would thaw too
            gc.freeze()  # every tracked object, in O(1) ...
            gc.unfreeze()  # ... back into the oldest generation
        if was_enabled:
            gc.enable()

from __future__ import annotations

import asyncio

import pytest

from agentflow.model.types import Agent, Limit
from agentflow.run.clock import VirtualClock
from agentflow.run.limits import RateLimiter
from agentflow.run.priority import (
    NOT_URGENT,
    LatencyObserver,
    PrioritySlots,
    RemainingPaths,
    Urgency,
    WaitQueue,
)

from .virtual_time import virtual, virtual_clock

MODEL = "openai/gpt-4o"


async def take(
    limiter: RateLimiter,
    clock: VirtualClock,
    log: list[tuple[str, float]],
    name: str,
    urgency: Urgency = NOT_URGENT,
    *,
    model: str = MODEL,
    tokens: int = 1,
    delay: float = 0.0,
) -> None:
    await clock.sleep(delay)
    async with await limiter.acquire(model, tokens, urgency=urgency):
        log.append((name, clock.monotonic()))


# -- the order itself ------------------------------------------------------------------------


def test_queue_orders_by_priority_then_slack_then_remaining_path_then_arrival() -> None:
    queue: WaitQueue[str] = WaitQueue(aging_s=60.0)
    entries = {
        name: queue.push(name, urgency, 0.0, seq)
        for seq, (name, urgency) in enumerate(
            [
                ("plain", Urgency()),
                ("long_path", Urgency(path_s=30.0)),
                ("deadline_far", Urgency(start_by=995.0, path_s=5.0)),
                ("deadline_near", Urgency(start_by=95.0, path_s=5.0)),
                ("priority", Urgency(priority=2)),
                ("plain_later", Urgency()),
            ]
        )
    }
    served = []
    while (head := queue.head(1.0)) is not None:
        served.append(head.item)
        queue.remove(head)
    assert served == [
        "priority",
        "deadline_near",
        "deadline_far",
        "long_path",
        "plain",
        "plain_later",
    ]
    assert all(not entry.live for entry in entries.values())


def test_of_two_calls_with_as_much_ahead_the_one_on_the_longer_path_goes_first() -> None:
    queue: WaitQueue[str] = WaitQueue()
    queue.push("independent", Urgency(path_s=1.0, through_s=1.0), 0.0, 0)
    queue.push("end_of_a_chain", Urgency(path_s=1.0, through_s=20.0), 0.0, 1)
    head = queue.head(0.0)
    assert head is not None and head.item == "end_of_a_chain"


def test_less_slack_beats_a_longer_path() -> None:
    queue: WaitQueue[str] = WaitQueue()
    queue.push("long_path_much_slack", Urgency(start_by=500.0, path_s=60.0), 0.0, 0)
    queue.push("short_path_little_slack", Urgency(start_by=90.0, path_s=10.0), 0.0, 1)
    head = queue.head(0.0)
    assert head is not None and head.item == "short_path_little_slack"


def test_a_waiter_past_the_aging_bound_goes_before_more_urgent_ones() -> None:
    queue: WaitQueue[str] = WaitQueue(aging_s=10.0)
    queue.push("old_low", Urgency(priority=-5), 0.0, 0)
    queue.push("new_high", Urgency(priority=5), 9.0, 1)
    head = queue.head(9.99)
    assert head is not None and head.item == "new_high"
    head = queue.head(10.0)
    assert head is not None and head.item == "old_low"


def test_queue_counts_waiters_by_priority_highest_first() -> None:
    queue: WaitQueue[str] = WaitQueue()
    a = queue.push("a", Urgency(priority=1), 0.0, 0)
    queue.push("b", Urgency(priority=1), 0.0, 1)
    queue.push("c", Urgency(), 0.0, 2)
    queue.push("d", Urgency(priority=-1), 0.0, 3)
    assert queue.by_priority() == ((1, 2), (0, 1), (-1, 1))
    queue.remove(a)
    queue.remove(a)  # twice is harmless
    assert queue.by_priority() == ((1, 1), (0, 1), (-1, 1))
    assert len(queue) == 3


# -- the limiter -----------------------------------------------------------------------------


@virtual
async def test_limiter_without_urgency_stays_first_come_first_served() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("*", rpm=60, burst=1),), clock)
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as group:
        for n in range(5):
            group.create_task(take(limiter, clock, log, f"c{n}", delay=n * 0.01))
    assert [name for name, _ in log] == ["c0", "c1", "c2", "c3", "c4"]


@virtual
async def test_limiter_serves_a_later_higher_priority_call_first() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("*", rpm=60, burst=1),), clock)
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as group:
        for n in range(4):
            group.create_task(take(limiter, clock, log, f"low{n}"))
        group.create_task(take(limiter, clock, log, "high", Urgency(priority=1), delay=0.5))
    # low0 goes at once; at 1 s the bucket has one request and "high" is waiting
    assert log[:2] == [("low0", 0.0), ("high", pytest.approx(1.0))]
    assert [name for name, _ in log[2:]] == ["low1", "low2", "low3"]


@virtual
async def test_limiter_lets_the_longest_remaining_path_go_first() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("openai/*", rpm=60, burst=1),), clock)
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(take(limiter, clock, log, "first"))
        for n in range(3):
            group.create_task(take(limiter, clock, log, f"leaf{n}", Urgency(path_s=1.0)))
        group.create_task(take(limiter, clock, log, "chain", Urgency(path_s=20.0), delay=0.1))
    assert [name for name, _ in log] == ["first", "chain", "leaf0", "leaf1", "leaf2"]


@virtual
async def test_limiter_ages_a_low_priority_call_past_a_stream_of_urgent_ones() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("*", rpm=60, burst=1),), clock, aging_s=5.0)
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(take(limiter, clock, log, "first"))
        group.create_task(take(limiter, clock, log, "low", Urgency(priority=-1), delay=0.1))
        # one urgent call every second, forever enough to starve "low" without aging
        for n in range(12):
            group.create_task(
                take(limiter, clock, log, f"high{n}", Urgency(priority=1), delay=0.2 + n)
            )
    when = dict(log)
    # "low" has waited 5 s at 5.1; the next token after that (6.0) is its own
    assert when["low"] == pytest.approx(6.0)
    assert [name for name, _ in log].index("low") == 6


@virtual
async def test_a_big_call_is_not_overtaken_by_smaller_ones_of_the_same_urgency() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("*", tpm=600),), clock)  # 10 tokens/s, bucket holds 10
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(take(limiter, clock, log, "drain", tokens=10))
        group.create_task(take(limiter, clock, log, "big", tokens=10, delay=0.1))
        for n in range(5):
            group.create_task(take(limiter, clock, log, f"small{n}", tokens=1, delay=0.2 + n / 10))
    order = [name for name, _ in log]
    assert order.index("big") == 1  # the small ones would fit sooner, but wait behind it
    assert dict(log)["big"] == pytest.approx(1.0)


@virtual
async def test_a_big_low_priority_call_is_overtaken_only_until_it_ages() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("*", tpm=600),), clock, aging_s=3.0)
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(take(limiter, clock, log, "drain", tokens=10))
        group.create_task(take(limiter, clock, log, "big", Urgency(priority=-1), tokens=10))
        for n in range(40):
            group.create_task(
                take(limiter, clock, log, f"small{n}", Urgency(priority=1), tokens=2, delay=n / 5)
            )
    when = dict(log)
    # aged at 3.0; from then on the bucket refills for it alone: full (10) one second later
    assert 3.0 <= when["big"] <= 4.0 + 1e-6
    assert all(t >= when["big"] for name, t in log if name in {"small30", "small39"})


@virtual
async def test_in_the_shared_star_key_the_more_urgent_call_of_another_model_goes_first() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("*", rpm=60, burst=1),), clock)
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(take(limiter, clock, log, "first", model="openai/a"))
        group.create_task(take(limiter, clock, log, "plain", model="openai/a", delay=0.1))
        group.create_task(
            take(limiter, clock, log, "urgent", Urgency(priority=3), model="anthropic/b", delay=0.2)
        )
    assert [name for name, _ in log] == ["first", "urgent", "plain"]


@virtual
async def test_limiter_statistics_show_the_queue_by_priority() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit("*", rpm=60, burst=1), Limit("openai/*", rpm=600)), clock)
    first = await limiter.acquire(MODEL, 1)
    tasks = [
        asyncio.create_task(limiter.acquire(MODEL, 1, urgency=Urgency(priority=p)))
        for p in (2, 0, 0, -1)
    ]
    await clock.sleep(0.5)
    stats = limiter.statistics()
    assert stats.key("*").waiting_by_priority == ((2, 1), (0, 2), (-1, 1))
    assert stats.key("openai/*").waiting_by_priority == ((2, 1), (0, 2), (-1, 1))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert limiter.statistics().key("*").waiting_by_priority == ()
    first.release()


# -- the in-flight cap -----------------------------------------------------------------------


@virtual
async def test_slots_go_to_the_most_urgent_waiter_and_age_the_rest() -> None:
    clock = virtual_clock()
    slots = PrioritySlots(1, clock.monotonic, aging_s=10.0)
    order: list[str] = []

    async def use(name: str, urgency: Urgency, delay: float) -> None:
        await clock.sleep(delay)
        await slots.acquire(urgency)
        order.append(name)
        await clock.sleep(4.0)
        slots.release()

    async with asyncio.TaskGroup() as group:
        group.create_task(use("holder", Urgency(), 0.0))
        group.create_task(use("low", Urgency(priority=-1), 0.1))
        for n in range(4):
            group.create_task(use(f"high{n}", Urgency(priority=1), 0.2 + n))
    # slots free at 4, 8, 12, 16: high0 at 4, high1 at 8, then "low" has waited 10 s
    assert order == ["holder", "high0", "high1", "low", "high2", "high3"]
    assert slots.statistics().in_use == 0


@virtual
async def test_a_slot_waiter_cancelled_leaves_the_queue_and_loses_nothing() -> None:
    clock = virtual_clock()
    slots = PrioritySlots(1, clock.monotonic)
    await slots.acquire()
    waiting = asyncio.create_task(slots.acquire(Urgency(priority=4)))
    await clock.sleep(1.0)
    assert slots.statistics().waiting_by_priority == ((4, 1),)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    slots.release()
    stats = slots.statistics()
    assert (stats.in_use, stats.waiting) == (0, 0)
    await slots.acquire()  # the slot is free again
    assert slots.statistics().in_use == 1


# -- remaining paths -------------------------------------------------------------------------


def _agent(agent_id: str, model: str = MODEL) -> Agent:
    return Agent(id=agent_id, model=model, prompt="p")


def test_remaining_path_is_the_longest_weighted_chain_ahead_and_follows_observed_latency() -> None:
    # a -> b -> c, a -> d; d runs on a slower model than planned
    agents = {"a": _agent("a"), "b": _agent("b"), "c": _agent("c"), "d": _agent("d", "slow/x")}
    observed = LatencyObserver()
    paths = RemainingPaths(
        (("a",), ("b", "d"), ("c",)),
        {"a": ("b", "d"), "b": ("c",), "d": ()},
        agents,
        {"a": 1.0, "b": 2.0, "c": 3.0, "d": 2.0},
        observed.factor,
    )
    assert paths.expected("a") == pytest.approx(6.0)
    assert paths.expected("d") == pytest.approx(2.0)
    observed.observe("slow/x", 2.0, 10.0)  # five times slower than planned
    assert paths.expected("d") == pytest.approx(10.0)
    assert paths.expected("a") == pytest.approx(11.0)
    # the plan's weights stay as they were: calls queued earlier compare alike
    assert (paths.planned("a"), paths.planned("d")) == pytest.approx((6.0, 2.0))
    # the longest path through each agent, what was done before it included
    assert [paths.through(n) for n in "abcd"] == pytest.approx([6.0, 6.0, 6.0, 3.0])

"""The send gate: a target is paced once its requests reach the pool, at most `size` at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentflow.llm.send_gate import SendGate, request_reached_pool

PACED = ("openai/gpt-4o-mini", "http://127.0.0.1:1/v1")


class Trace:
    """Records, per request, when it entered preparation and when it reached the pool."""

    def __init__(self) -> None:
        self.preparing = 0
        self.most_preparing = 0
        self.reached: list[int] = []

    async def request(
        self,
        gate: SendGate,
        number: int,
        *,
        target: tuple[str, str | None] = PACED,
        steps: int = 3,
        uses_pool: bool = True,
        fail: bool = False,
    ) -> None:
        async with gate.preparing(target):
            self.preparing += 1
            self.most_preparing = max(self.most_preparing, self.preparing)
            for _ in range(steps):  # LiteLLM's preparation: several turns of the loop
                await asyncio.sleep(0)
            self.preparing -= 1
            if fail:
                raise ValueError("refused before sending")
            if uses_pool:
                request_reached_pool()
                self.reached.append(number)
            await asyncio.sleep(0.01)  # waiting for the answer: not counted as preparing

    async def burst(self, gate: SendGate, count: int, **options: Any) -> None:
        """`count` requests started together, numbered 0..count-1."""
        async with asyncio.TaskGroup() as group:
            for n in range(count):
                group.create_task(self.request(gate, n, **options))


async def _learn(gate: SendGate, trace: Trace) -> None:
    await trace.request(gate, -1)


def test_a_target_is_not_paced_until_one_of_its_requests_reaches_the_pool() -> None:
    async def main() -> Trace:
        gate, trace = SendGate(2), Trace()
        await trace.burst(gate, 10)
        return trace

    trace = asyncio.run(main())
    assert trace.most_preparing == 10  # all ten came before anything was learned


def test_a_paced_target_prepares_at_most_size_requests_and_sends_them_in_arrival_order() -> None:
    async def main() -> tuple[Trace, SendGate]:
        gate, trace = SendGate(2), Trace()
        await _learn(gate, trace)
        trace.reached.clear()
        await trace.burst(gate, 20)
        return trace, gate

    trace, gate = asyncio.run(main())
    assert trace.most_preparing == 2
    assert trace.reached == list(range(20))
    stats = gate.statistics()
    assert (stats.preparing, stats.waiting, stats.max_preparing, stats.paced_targets) == (
        0,
        0,
        2,
        1,
    )


def test_requests_that_never_use_the_pool_are_never_held_back() -> None:
    async def main() -> Trace:
        gate, trace = SendGate(1), Trace()
        other = ("bedrock/some-model", None)
        await trace.burst(gate, 8, target=other, uses_pool=False)
        await trace.burst(gate, 8, target=other, uses_pool=False)
        return trace

    assert asyncio.run(main()).most_preparing == 8


def test_pacing_one_target_does_not_hold_back_another() -> None:
    async def main() -> Trace:
        gate, trace = SendGate(1), Trace()
        await _learn(gate, trace)
        other = ("anthropic/claude-sonnet-4-5", None)
        await trace.burst(gate, 6, target=other)
        return trace

    assert asyncio.run(main()).most_preparing == 6


def test_a_request_that_fails_before_sending_gives_its_place_back() -> None:
    async def main() -> Trace:
        gate, trace = SendGate(1), Trace()
        await _learn(gate, trace)
        for n in range(3):
            with pytest.raises(ValueError):
                await trace.request(gate, n, fail=True)
        await asyncio.wait_for(trace.request(gate, 99), timeout=5)
        return trace

    assert asyncio.run(main()).reached[-1] == 99


def test_a_waiter_cancelled_in_the_queue_takes_no_place() -> None:
    async def main() -> tuple[list[str], SendGate]:
        gate, trace = SendGate(1), Trace()
        await _learn(gate, trace)
        order: list[str] = []
        holding = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with gate.preparing(PACED):
                holding.set()
                await release.wait()
                order.append("holder")

        async def waiter(name: str) -> None:
            async with gate.preparing(PACED):
                order.append(name)

        held = asyncio.create_task(holder())
        await holding.wait()
        cancelled = asyncio.create_task(waiter("cancelled"))
        patient = asyncio.create_task(waiter("patient"))
        await asyncio.sleep(0)
        assert gate.statistics().waiting == 2
        cancelled.cancel()
        release.set()
        await asyncio.wait_for(asyncio.gather(held, patient), timeout=5)
        assert cancelled.cancelled()
        return order, gate

    order, gate = asyncio.run(main())
    assert order == ["holder", "patient"]
    assert gate.statistics().preparing == 0


def test_a_gate_needs_room_for_one_request() -> None:
    with pytest.raises(ValueError):
        SendGate(0)

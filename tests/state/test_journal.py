"""The run's journal: answers arriving together are committed together, each before its
`record` returns, and a failed commit reaches every caller that waited on it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from agentflow.errors import StateError
from agentflow.llm.types import LLMResponse
from agentflow.state.journal import RunJournal
from agentflow.state.store import StateStore


def answer(n: int) -> LLMResponse:
    return LLMResponse(f'{{"n": {n}}}', (), 10, 5, "openai/gpt-4o-mini", "stop")


def rows(path: Path) -> int:
    with sqlite3.connect(path) as reader:
        return int(reader.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def test_answers_of_one_loop_turn_share_one_commit_and_each_is_on_disk_when_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    journal = RunJournal(StateStore.open(path), run_id="r1")
    seen_on_disk: list[int] = []

    async def one(n: int) -> None:
        await journal.record(journal.place("wf", 0, f"a{n}", None, 0), f"fp{n}", answer(n), 0.1)
        seen_on_disk.append(rows(path))

    async def main() -> None:
        await asyncio.gather(*(one(n) for n in range(10)))
        await one(10)  # a later turn: its own commit

    asyncio.run(main())
    assert journal.commits == 2
    # Every caller saw its answer (and those committed with it) on disk when it returned.
    assert seen_on_disk == [10] * 10 + [11]
    hit = journal.store.journaled_response(["r1"], journal.place("wf", 0, "a3", None, 0), "fp3")
    assert hit is not None and hit.response == answer(3)


def test_a_cancelled_caller_does_not_withdraw_its_answer(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    journal = RunJournal(StateStore.open(path), run_id="r1")

    async def main() -> None:
        task = asyncio.create_task(
            journal.record(journal.place("wf", 0, "a", None, 0), "fp", answer(0), 0.1)
        )
        await asyncio.sleep(0)  # queued, commit scheduled
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The cancellation arrived only once the answer was on disk.
        assert rows(path) == 1

    asyncio.run(main())


def test_a_failed_commit_is_raised_to_every_caller_of_that_turn(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    journal = RunJournal(store, run_id="r1")
    store.close()  # every write now fails inside SQLite

    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(
            *(
                journal.record(journal.place("wf", 0, f"a{n}", None, 0), f"fp{n}", answer(n), 0)
                for n in range(3)
            ),
            return_exceptions=True,
        )
        return list(results)

    results = asyncio.run(main())
    assert all(isinstance(r, StateError) for r in results), results
    assert journal.commits == 0

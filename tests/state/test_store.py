"""The state database: journal and cache, across processes, crashes and damage."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from agentflow.errors import StateError
from agentflow.llm.types import LLMResponse, ToolCall
from agentflow.state.store import Place, StateStore, decode_response, encode_response

ANSWER = LLMResponse(
    content='{"total": 12}',
    tool_calls=(ToolCall("c1", "lookup", '{"id": "INV-0001"}'),),
    input_tokens=120,
    output_tokens=30,
    model="openai/gpt-4o-mini",
    finish_reason="stop",
)


def place(run_id: str = "r1", item: int | None = None, round_no: int = 0) -> Place:
    return Place(run_id, "invoices", 3, "extract", item, round_no)


def test_a_response_survives_encoding_exactly() -> None:
    assert decode_response(encode_response(ANSWER)) == ANSWER


def test_a_journaled_answer_is_found_at_its_place_in_its_run_family(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    store.record_response(place(), "fp1", ANSWER, 0.0012, now=100.0)

    hit = store.journaled_response(["r0", "r1"], place(run_id="r2"), "fp1")
    assert hit is not None
    assert hit.response == ANSWER
    assert hit.cost_usd == 0.0012
    assert hit.run_id == "r1"
    # Another run family, another fingerprint, another item or round: no answer.
    assert store.journaled_response(["other"], place(), "fp1") is None
    assert store.journaled_response(["r1"], place(), "fp2") is None
    assert store.journaled_response(["r1"], place(item=0), "fp1") is None
    assert store.journaled_response(["r1"], place(round_no=1), "fp1") is None
    assert store.statistics().responses_replayed == 1


def test_the_newest_answer_at_a_place_wins(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    store.record_response(place("r1"), "fp", ANSWER, 0.001, now=1.0)
    newer = LLMResponse("later", (), 1, 1, "openai/gpt-4o-mini")
    store.record_response(place("r2"), "fp", newer, 0.002, now=2.0)
    hit = store.journaled_response(["r1", "r2"], place(), "fp")
    assert hit is not None and hit.response == newer


def test_a_journaled_answer_is_on_disk_for_another_process_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    writer = StateStore.open(path)
    writer.record_response(place(), "fp1", ANSWER, 0.001, now=1.0)
    # No close, no checkpoint: a process killed now has still journaled the answer.
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM responses").fetchone() == (1,)


def _write_many(path: str, worker: int) -> None:
    store = StateStore.open(path)
    for n in range(50):
        store.record_response(
            Place(f"r{worker}", "wf", n, "a", None, 0), f"fp{worker}-{n}", ANSWER, 0.001, now=n
        )


def test_many_processes_journal_into_one_file_without_losing_a_write(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    StateStore.open(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(DISTINCT fingerprint) FROM responses").fetchone() == (200,)


def test_side_effect_tool_results_are_found_by_tool_and_arguments(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    store.record_tool_result(place(), "pay", '{"amount": 5}', True, "paid #77", now=1.0)
    assert store.journaled_tool_result(["r1"], place("r9"), "pay", '{"amount": 5}') == (
        True,
        "paid #77",
    )
    assert store.journaled_tool_result(["r1"], place(), "pay", '{"amount": 6}') is None
    assert store.journaled_tool_result(["r1"], place(), "refund", '{"amount": 5}') is None


def test_cache_hits_until_the_entry_expires_and_counts_them(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    store.cache_response("fp", ANSWER, 0.25, ttl_s=10.0, now=100.0)
    hit = store.cached_response("fp", now=105.0)
    assert hit is not None and hit.response == ANSWER
    assert store.cached_response("fp", now=111.0) is None
    stats = store.cache_statistics(now=105.0)
    assert (stats.entries, stats.expired, stats.hits) == (1, 0, 1)
    assert stats.saved_usd == pytest.approx(0.25)
    assert store.cache_statistics(now=200.0).expired == 1


def test_cache_clear_older_than_keeps_fresh_entries(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    store.cache_response("old", ANSWER, 0.1, ttl_s=None, now=0.0)
    store.cache_response("new", ANSWER, 0.1, ttl_s=None, now=1000.0)
    assert store.clear_cache(older_than_s=500.0, now=1000.0) == 1
    assert store.cached_response("old", now=1000.0) is None
    assert store.cached_response("new", now=1000.0) is not None
    assert store.clear_cache(older_than_s=None, now=1000.0) == 1


def test_a_damaged_database_is_a_clear_error_not_a_silent_re_pay(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match=r"damaged.*Move it aside"):
        StateStore.open(path)


def test_a_folder_is_not_a_state_database(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="is a folder"):
        StateStore.open(tmp_path)


def test_a_locked_database_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentflow.state.store as store_module

    path = tmp_path / "state.db"
    store = StateStore.open(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 50)
    store._db.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(StateError, match="locked by another process"):
        store.record_response(place(), "fp", ANSWER, 0.1, now=1.0)
    holder.execute("ROLLBACK")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore.open(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    with pytest.raises(StateError, match="newer agentflow"):
        StateStore.open(path)

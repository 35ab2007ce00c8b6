"""The local state database: the response journal and the response cache, in one SQLite file.

This module is the only one that touches SQLite. One file (default `.agentflow/state.db`,
beside the log dir), WAL mode so many processes on one machine read and write it at once,
every write an explicit `BEGIN IMMEDIATE` transaction, a schema version in `meta` with
migrations applied in order. Its tables are plain, so a user can query them by hand:

    responses     every successful model answer, by place and request fingerprint
    tool_results  every result of a tool declared `side_effects: true`, by place
    cache         answers by fingerprint alone, for `cache:` (opt-in), with an expiry
    standing_spend  what each standing budget (`budget: {per: day}`) spent in each UTC period

A place is where a call stands in a run: run, workflow, instance, agent, item (-1 outside
a fan-out) and tool round. A journaled answer is committed before the event that reports
it is written, so a crash can lose a log line but never a paid answer.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentflow.errors import StateError
from agentflow.llm.types import LLMResponse, ToolCall

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 10_000

_MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1
    """
    CREATE TABLE responses (
        id            INTEGER PRIMARY KEY,
        run_id        TEXT    NOT NULL,
        workflow      TEXT    NOT NULL,
        instance      INTEGER NOT NULL,
        agent         TEXT    NOT NULL,
        item          INTEGER NOT NULL,
        round         INTEGER NOT NULL,
        fingerprint   TEXT    NOT NULL,
        model         TEXT    NOT NULL,
        response      TEXT    NOT NULL,
        cost_usd      REAL,
        created_at    REAL    NOT NULL
    );
    CREATE INDEX responses_by_place
        ON responses (workflow, instance, agent, item, round, fingerprint);
    CREATE INDEX responses_by_run ON responses (run_id);
    CREATE TABLE tool_results (
        id            INTEGER PRIMARY KEY,
        run_id        TEXT    NOT NULL,
        workflow      TEXT    NOT NULL,
        instance      INTEGER NOT NULL,
        agent         TEXT    NOT NULL,
        item          INTEGER NOT NULL,
        round         INTEGER NOT NULL,
        tool          TEXT    NOT NULL,
        arguments     TEXT    NOT NULL,
        ok            INTEGER NOT NULL,
        content       TEXT    NOT NULL,
        created_at    REAL    NOT NULL
    );
    CREATE INDEX tool_results_by_place
        ON tool_results (workflow, instance, agent, item, round, tool);
    CREATE TABLE cache (
        fingerprint   TEXT    PRIMARY KEY,
        model         TEXT    NOT NULL,
        response      TEXT    NOT NULL,
        cost_usd      REAL,
        created_at    REAL    NOT NULL,
        expires_at    REAL,
        hits          INTEGER NOT NULL DEFAULT 0,
        last_hit_at   REAL
    );
    """,
    # 1 -> 2
    """
    CREATE TABLE standing_spend (
        key           TEXT    NOT NULL,
        period        TEXT    NOT NULL,
        spent_nanos   INTEGER NOT NULL,
        updated_at    REAL    NOT NULL,
        PRIMARY KEY (key, period)
    );
    """,
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where one model call (or tool call) stands in a run."""

    run_id: str
    workflow: str
    instance: int
    agent: str
    item: int | None
    round: int

    def key(self) -> tuple[str, int, str, int, int]:
        """The place without the run: the same place in a resumed or retried run."""
        return (
            self.workflow,
            self.instance,
            self.agent,
            -1 if self.item is None else self.item,
            self.round,
        )


@dataclass(frozen=True, slots=True)
class Journaled:
    """An answer found in the journal or the cache."""

    response: LLMResponse
    cost_usd: float | None
    run_id: str


@dataclass(frozen=True, slots=True)
class CacheStatistics:
    """What `agentflow cache stats` shows."""

    path: str
    entries: int
    expired: int
    hits: int
    bytes: int
    saved_usd: float
    oldest: float | None
    newest: float | None


@dataclass(frozen=True, slots=True)
class StoreStatistics:
    """Counters of one open store (this process's writes and reads)."""

    path: str
    schema_version: int
    responses_written: int
    responses_replayed: int
    tool_results_written: int
    tool_results_replayed: int
    cache_hits: int
    cache_writes: int


# One answer to journal: where it was asked, its request fingerprint, the answer, its cost
# (None when unpriced) and when it arrived.
Answer = tuple[Place, str, LLMResponse, float | None, float]


def encode_response(response: LLMResponse) -> str:
    """The response as compact JSON (every field, tool calls as objects)."""
    return json.dumps(dataclasses.asdict(response), separators=(",", ":"), ensure_ascii=False)


def decode_response(text: str) -> LLMResponse:
    """The inverse of `encode_response`; fields this version does not know are ignored."""
    data = json.loads(text)
    known = {f.name for f in dataclasses.fields(LLMResponse)}
    values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
    values["tool_calls"] = tuple(ToolCall(**c) for c in values.get("tool_calls") or ())
    values.pop("rate_limits", None)  # about the moment it was answered, not worth keeping
    return LLMResponse(**values)


class StateStore:
    """The open state database. Not thread-safe: one per process, used from the event loop.

    Every method is a short transaction (well under a millisecond in WAL mode), so calling
    it from async code does not stall the loop.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._counts = dict.fromkeys(
            (
                "responses_written",
                "responses_replayed",
                "tool_results_written",
                "tool_results_replayed",
                "cache_hits",
                "cache_writes",
            ),
            0,
        )

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str) -> StateStore:
        """Open (creating when missing) the state database at `path`. Raises `StateError`."""
        path = Path(path)
        if path.is_dir():
            raise StateError(f"{path} is a folder; --state names a database file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the folder of the state database {path}: {exc.strerror or exc}"
            ) from None
        try:
            connection = sqlite3.connect(
                path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state database {path}: {exc}") from None
        store = cls(path, connection)
        store._prepare()
        return store

    def _prepare(self) -> None:
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(f"{self.path}: the state database cannot use WAL mode ({mode})")
            # WAL + NORMAL: a committed transaction survives the process being killed; only
            # an operating-system crash can lose the last commits.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._translate(exc) from None

    def _translate(self, exc: sqlite3.Error) -> StateError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StateError(
                f"the state database {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_MS // 1000} s; try again, or give this run its own --state"
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return StateError(
                f"the state database {self.path} is damaged ({text}); nothing was called. Move it "
                "aside (answers journaled in it can then not be replayed) or pass --state NEW_PATH"
            )
        return StateError(f"the state database {self.path} failed: {text}")

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"the state database {self.path} was written by a newer agentflow "
                    f"(schema {version}; this one knows {SCHEMA_VERSION}); upgrade agentflow"
                )
            for step in _MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _write(self, sql: str, args: Sequence[Any]) -> None:
        self._write_many(sql, (args,))

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def _read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    def close(self) -> None:
        self._db.close()

    # -- the journal ------------------------------------------------------------------------

    def record_response(
        self,
        place: Place,
        fingerprint: str,
        response: LLMResponse,
        cost_usd: float | None,
        now: float,
    ) -> None:
        """Commit one paid answer. Returns only once it is on disk (WAL)."""
        self.record_responses(((place, fingerprint, response, cost_usd, now),))

    def record_responses(self, answers: Sequence[Answer]) -> None:
        """Commit paid answers in one transaction: all on disk (WAL) when this returns."""
        rows = [
            (
                place.run_id,
                *place.key(),
                fingerprint,
                response.model,
                encode_response(response),
                cost_usd,
                now,
            )
            for place, fingerprint, response, cost_usd, now in answers
        ]
        self._write_many(
            "INSERT INTO responses (run_id, workflow, instance, agent, item, round, fingerprint,"
            " model, response, cost_usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._counts["responses_written"] += len(rows)

    def journaled_response(
        self, runs: Sequence[str], place: Place, fingerprint: str
    ) -> Journaled | None:
        """The newest answer to this request at this place in any of `runs`, if one was paid."""
        if not runs:
            return None
        marks = ",".join("?" * len(runs))
        rows = self._read(
            "SELECT response, cost_usd, run_id FROM responses WHERE workflow = ? AND instance = ?"
            " AND agent = ? AND item = ? AND round = ? AND fingerprint = ?"
            f" AND run_id IN ({marks}) ORDER BY id DESC LIMIT 1",
            (*place.key(), fingerprint, *runs),
        )
        if not rows:
            return None
        self._counts["responses_replayed"] += 1
        text, cost, run_id = rows[0]
        return Journaled(decode_response(text), cost, run_id)

    def record_tool_result(
        self, place: Place, tool: str, arguments: str, ok: bool, content: str, now: float
    ) -> None:
        """Commit the result of a side-effecting tool, so a resume never runs it again."""
        self._write(
            "INSERT INTO tool_results (run_id, workflow, instance, agent, item, round, tool,"
            " arguments, ok, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (place.run_id, *place.key(), tool, arguments, int(ok), content, now),
        )
        self._counts["tool_results_written"] += 1

    def journaled_tool_result(
        self, runs: Sequence[str], place: Place, tool: str, arguments: str
    ) -> tuple[bool, str] | None:
        """The recorded result of this tool call at this place in any of `runs`."""
        if not runs:
            return None
        marks = ",".join("?" * len(runs))
        rows = self._read(
            "SELECT ok, content FROM tool_results WHERE workflow = ? AND instance = ? AND agent = ?"
            " AND item = ? AND round = ? AND tool = ? AND arguments = ?"
            f" AND run_id IN ({marks}) ORDER BY id DESC LIMIT 1",
            (*place.key(), tool, arguments, *runs),
        )
        if not rows:
            return None
        self._counts["tool_results_replayed"] += 1
        return bool(rows[0][0]), str(rows[0][1])

    def run_costs(self, run_id: str) -> tuple[int, float]:
        """How many answers a run journaled and what they cost (unknown prices count 0)."""
        rows = self._read(
            "SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM responses WHERE run_id = ?", (run_id,)
        )
        return int(rows[0][0]), float(rows[0][1])

    # -- the cache --------------------------------------------------------------------------

    def cached_response(self, fingerprint: str, now: float) -> Journaled | None:
        """A fresh cached answer to this request, counting the hit."""
        found = self.peek_cached(fingerprint, now)
        if found is None:
            return None
        self._write(
            "UPDATE cache SET hits = hits + 1, last_hit_at = ? WHERE fingerprint = ?",
            (now, fingerprint),
        )
        self._counts["cache_hits"] += 1
        return found

    def peek_cached(self, fingerprint: str, now: float) -> Journaled | None:
        """A fresh cached answer to this request, without counting a hit (for `plan`)."""
        rows = self._read(
            "SELECT response, cost_usd FROM cache WHERE fingerprint = ?"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (fingerprint, now),
        )
        return Journaled(decode_response(rows[0][0]), rows[0][1], "") if rows else None

    def cache_response(
        self,
        fingerprint: str,
        response: LLMResponse,
        cost_usd: float | None,
        ttl_s: float | None,
        now: float,
    ) -> None:
        """Keep an answer for later runs (`ttl_s` None: until cleared)."""
        expires = None if ttl_s is None else now + ttl_s
        self._write(
            "INSERT INTO cache (fingerprint, model, response, cost_usd, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET"
            " response = excluded.response, cost_usd = excluded.cost_usd,"
            " created_at = excluded.created_at, expires_at = excluded.expires_at",
            (fingerprint, response.model, encode_response(response), cost_usd, now, expires),
        )
        self._counts["cache_writes"] += 1

    def cache_statistics(self, now: float) -> CacheStatistics:
        rows = self._read(
            "SELECT COUNT(*), COALESCE(SUM(expires_at IS NOT NULL AND expires_at <= ?), 0),"
            " COALESCE(SUM(hits), 0), COALESCE(SUM(LENGTH(response)), 0),"
            " COALESCE(SUM(hits * COALESCE(cost_usd, 0)), 0), MIN(created_at), MAX(created_at)"
            " FROM cache",
            (now,),
        )
        entries, expired, hits, size, saved, oldest, newest = rows[0]
        return CacheStatistics(
            str(self.path),
            int(entries),
            int(expired),
            int(hits),
            int(size),
            float(saved),
            oldest,
            newest,
        )

    def clear_cache(self, older_than_s: float | None, now: float) -> int:
        """Delete cached answers (all, or those created more than `older_than_s` ago, and
        expired ones); returns how many went."""
        where = ""
        args: tuple[float, ...] = ()
        if older_than_s is not None:
            where = " WHERE created_at <= ? OR (expires_at IS NOT NULL AND expires_at <= ?)"
            args = (now - older_than_s, now)
        before = self._read("SELECT COUNT(*) FROM cache", ())[0][0]
        self._write("DELETE FROM cache" + where, args)
        after = self._read("SELECT COUNT(*) FROM cache", ())[0][0]
        return int(before) - int(after)

    # -- standing budgets -------------------------------------------------------------------

    def standing_spent(self, key: str, period: str) -> int:
        """Nano-dollars the standing budget `key` has spent in `period` (0 if nothing)."""
        rows = self._read(
            "SELECT spent_nanos FROM standing_spend WHERE key = ? AND period = ?", (key, period)
        )
        return int(rows[0][0]) if rows else 0

    def add_standing_spend(self, key: str, period: str, nanos: int, now: float) -> None:
        """Add `nanos` to what the standing budget `key` spent in `period`; committed on return."""
        self._write(
            "INSERT INTO standing_spend (key, period, spent_nanos, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key, period) DO UPDATE SET"
            " spent_nanos = spent_nanos + excluded.spent_nanos, updated_at = excluded.updated_at",
            (key, period, nanos, now),
        )

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(path=str(self.path), schema_version=SCHEMA_VERSION, **self._counts)

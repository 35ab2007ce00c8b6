"""The run log: one JSON object per line, append-only, described by schemas/run-event.schema.json.

Guarantees (see docs/run-log.md): every line is flushed to the OS as it is written, the file is
fsync'ed at terminal events and on close, and every credential (by value or by shape, see
agentflow/redaction.py) is replaced by "[REDACTED]" before it reaches the disk.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from agentflow.events.types import EVENT_FORMAT_VERSION, TERMINAL_EVENTS, Event
from agentflow.redaction import Redactor, active, neutralise_json

ENVELOPE_KEYS = frozenset(
    {"v", "seq", "ts", "run_id", "event", "workflow", "instance", "agent"},
)


class _IsoUtc:
    """Formats epoch seconds as 2026-11-24T10:00:01.234Z, caching the per-second prefix."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ts: float) -> str:
        millis = math.floor(ts * 1000)
        second, ms = divmod(millis, 1000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{ms:03d}Z"


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A copy of `value` json can always encode: non-finite floats become null, the rest str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if depth < 64 and isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if depth < 64 and isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v, depth + 1) for v in value]
    return str(value)


def _record(event: Event, ts: str, run_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """The line's object: the envelope, then the data keys (`data_<key>` where one collides)."""
    record: dict[str, Any] = {
        "v": EVENT_FORMAT_VERSION,
        "seq": event.seq,
        "ts": ts,
        "run_id": run_id,
        "event": event.event,
        "workflow": event.workflow,
        "instance": event.instance,
        "agent": event.agent,
    }
    for key, value in data.items():
        record[f"data_{key}" if key in ENVELOPE_KEYS else key] = value
    return record


class JsonlSink:
    """Appends each event to `path` as one redacted JSON line.

    Data keys are flattened into the line next to the envelope; a data key that collides with
    an envelope key is written as `data_<key>` so the envelope is never overwritten.
    """

    def __init__(self, path: Path, redactor: Redactor | None = None) -> None:
        self.path = Path(path)
        self.label = f"the run log {self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # backslashreplace: a lone surrogate in model output becomes a valid JSON \\u escape
        # instead of an exception.
        self._file = self.path.open("a", encoding="utf-8", errors="backslashreplace")
        self._encoder = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":")
        )
        self._iso = _IsoUtc()
        self._redactor = redactor if redactor is not None else active()

    def handle(self, event: Event) -> None:
        ts = self._iso(event.ts)
        # Most lines hold no secret: encode once, and walk the values only when the encoded
        # line contains a secret value (in any of its spellings, the JSON-escaped one too)
        # or a substring some shape needs (every string of the record appears in it
        # verbatim, JSON escapes never touching those letters).
        redactor = self._redactor
        try:
            line: str | None = self._encoder.encode(_record(event, ts, event.run_id, event.data))
        except (ValueError, TypeError, RecursionError):
            line = None
        if line is None or redactor.may_hold_secret(line):
            record = _record(event, ts, redactor.text(event.run_id), redactor.value(event.data))
            try:
                line = self._encoder.encode(record)
            except (ValueError, TypeError, RecursionError):
                line = self._encoder.encode(_json_safe(record))
        # `cat` or `tail -f` of the log must not let a provider's text drive the terminal:
        # the C1 and bidirectional controls JSON leaves raw become \u escapes (same value).
        self._file.write(neutralise_json(line) + "\n")
        self._file.flush()
        if event.event in TERMINAL_EVENTS:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()

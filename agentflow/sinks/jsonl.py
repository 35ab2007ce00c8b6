"""The run log: one JSON object per line, append-only, described by schemas/run-event.schema.json.

Guarantees (see docs/run-log.md): every line is flushed to the OS as it is written, the file is
fsync'ed at terminal events and on close, and every credential (by value or by shape, see
agentflow/redaction.py) is replaced by "[REDACTED]" before it reaches the disk. The file is
created with the first line, so a run stopped before it began leaves no empty log. No line is
longer than `max_line_bytes`: bigger values (a huge answer) are cut, and the line says so
(`truncated: true`, `original_bytes`). A log deleted while the run writes it is reported once
on stderr; the run goes on.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from agentflow.events.types import EVENT_FORMAT_VERSION, TERMINAL_EVENTS, Event
from agentflow.redaction import Redactor, active, neutralise_json

DEFAULT_MAX_LINE_BYTES = 1_000_000
"""The longest line the log holds; what the user asked to keep (`-o`) keeps everything."""
_CHECK_EVERY_S = 1.0  # how often the sink looks whether its file still exists

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


def _warn_on_stderr(message: str) -> None:
    print(f"agentflow: warning: {message}", file=sys.stderr, flush=True)


class JsonlSink:
    """Appends each event to `path` as one redacted JSON line.

    Data keys are flattened into the line next to the envelope; a data key that collides with
    an envelope key is written as `data_<key>` so the envelope is never overwritten.
    The folder is made (and checked writable) at once; the file with the first line.
    """

    def __init__(
        self,
        path: Path,
        redactor: Redactor | None = None,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        warn: Callable[[str], None] = _warn_on_stderr,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.label = f"the run log {self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(self.path.parent))
        self._file: IO[str] | None = None
        self._closed = False
        self._max_line = max(1024, max_line_bytes)
        self._warn = warn
        self._monotonic = monotonic
        self._checked_at = 0.0
        self._lost = False
        self._encoder = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":")
        )
        self._iso = _IsoUtc()
        self._redactor = redactor if redactor is not None else active()

    def _open(self) -> IO[str]:
        if self._file is None:
            # backslashreplace: a lone surrogate in model output becomes a valid JSON \\u
            # escape instead of an exception.
            self._file = self.path.open("a", encoding="utf-8", errors="backslashreplace")
            self._checked_at = self._monotonic()
        return self._file

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
        if len(line) * 4 > self._max_line and len(line.encode("utf-8", "replace")) > self._max_line:
            line = self._bounded(line)
        file = self._open()
        # `cat` or `tail -f` of the log must not let a provider's text drive the terminal:
        # the C1 and bidirectional controls JSON leaves raw become \u escapes (same value).
        file.write(neutralise_json(line) + "\n")
        file.flush()
        if event.event in TERMINAL_EVENTS:
            os.fsync(file.fileno())
        self._check_still_there(file)

    def _bounded(self, line: str) -> str:
        """`line` cut to `max_line_bytes`: its largest values shortened, and marked so."""
        size = len(line.encode("utf-8", "replace"))
        record = json.loads(line)
        keep = {key: record[key] for key in ENVELOPE_KEYS if key in record}
        values = {key: value for key, value in record.items() if key not in ENVELOPE_KEYS}
        cap = self._max_line // 2
        while True:
            cut = {key: _shorten(value, cap) for key, value in values.items()}
            out = self._encoder.encode({**keep, **cut, "truncated": True, "original_bytes": size})
            if len(out.encode("utf-8", "replace")) <= self._max_line or cap <= 64:
                return out
            cap //= 2

    def _check_still_there(self, file: IO[str]) -> None:
        """Say once when the log was deleted under the run (its link count dropped to 0)."""
        if self._lost:
            return
        now = self._monotonic()
        if now - self._checked_at < _CHECK_EVERY_S:
            return
        self._checked_at = now
        if os.fstat(file.fileno()).st_nlink == 0:
            self._lost = True
            self._warn(
                f"the run log {self.path} was deleted while the run was writing it; "
                "the run goes on, but its log is lost"
            )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        file = self._file
        if file is None:
            return
        try:
            file.flush()
            os.fsync(file.fileno())
            self._check_still_there_now(file)
        finally:
            file.close()

    def _check_still_there_now(self, file: IO[str]) -> None:
        self._checked_at = -_CHECK_EVERY_S
        self._check_still_there(file)


def _shorten(value: Any, cap: int) -> Any:
    """`value` if its JSON fits in `cap` characters, else the start of that JSON text."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= cap:
        return value
    return text[:cap] + f"…[{len(text) - cap} more characters]"

"""`agentflow cache stats|clear`: what the response cache holds, and emptying it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from agentflow.errors import UsageError
from agentflow.model.durations import parse_duration
from agentflow.state.store import StateStore


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cache_command(
    action: str, state: Path, *, older_than: str | None, format: str, out: Console
) -> int:
    """Show cache statistics or clear it. Returns the exit code."""
    if action not in ("stats", "clear"):
        raise UsageError(f"unknown cache action {action!r}; choose stats or clear")
    seconds = None
    if older_than is not None:
        try:
            seconds = parse_duration(older_than)
        except ValueError:
            raise UsageError(
                f"--older-than {older_than!r}: give a duration such as 7d, 12h, 30m"
            ) from None
    if not state.exists():
        if format == "json":
            print(json.dumps({"state": str(state), "entries": 0, "removed": 0}))
        else:
            out.out(f"no state database at {state}: the cache is empty")
        return 0
    store = StateStore.open(state)
    try:
        now = time.time()
        if action == "clear":
            removed = store.clear_cache(seconds, now)
            if format == "json":
                print(json.dumps({"state": str(state), "removed": removed}))
            else:
                out.out(
                    f"removed {removed} cached answer{'s' if removed != 1 else ''} from {state}"
                )
            return 0
        stats = store.cache_statistics(now)
    finally:
        store.close()
    if format == "json":
        print(
            json.dumps(
                {
                    "state": stats.path,
                    "entries": stats.entries,
                    "expired": stats.expired,
                    "hits": stats.hits,
                    "bytes": stats.bytes,
                    "saved_usd": round(stats.saved_usd, 10),
                    "oldest": _when(stats.oldest) if stats.oldest else None,
                    "newest": _when(stats.newest) if stats.newest else None,
                },
                indent=2,
            )
        )
        return 0
    out.out(f"cache in {stats.path}")
    out.out(f"  entries   {stats.entries} ({stats.expired} expired)")
    out.out(f"  size      {stats.bytes / 1024:.1f} KiB of answers")
    out.out(f"  hits      {stats.hits}, saving ${stats.saved_usd:.4f}")
    out.out(f"  oldest    {_when(stats.oldest)}")
    out.out(f"  newest    {_when(stats.newest)}")
    return 0

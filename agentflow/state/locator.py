"""What a `--state` value names: a local state db file or a shared Redis (no imports of either,
so the CLI can tell them apart at start-up)."""

from __future__ import annotations

from pathlib import Path


def is_redis_url(value: str | None) -> bool:
    """True when a `--state` value names a Redis (redis:// or rediss://) rather than a file."""
    return value is not None and value.startswith(("redis://", "rediss://"))


def split_state(value: str | None) -> tuple[Path | None, str | None]:
    """A `--state` value as (state db file, shared Redis URL): one of them, or neither."""
    if value is None:
        return None, None
    if is_redis_url(value):
        return None, value
    return Path(value), None

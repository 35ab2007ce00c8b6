"""Durations as written in workflow files: seconds, or "500ms", "90s", "2m", "1h", "7d"."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d|w)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: float | int | str) -> float:
    """Seconds for a duration value. Raises ValueError for anything else.

    >>> parse_duration("2m"), parse_duration(1.5), parse_duration("500ms")
    (120.0, 1.5, 0.5)
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value.strip())
    if match is None:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group("n")) * _UNIT_SECONDS[match.group("unit")]

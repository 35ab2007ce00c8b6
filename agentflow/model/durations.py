"""Durations as written in workflow files: seconds, or "500ms", "90s", "2m", "1h".

Every duration in a workflow file is greater than 0, whatever its spelling: `0`, `0.0`,
`"0s"`, `"0ms"` and `"0m"` are all refused (the workflow schema says so, and
`parse_duration` refuses them too, so no zero duration reaches the model).
"""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: object) -> float | None:
    """Seconds for anything written like a duration, zero and negative numbers included;
    None when `value` has no duration's form (`"5 minutes"`, `true`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip())
    if match is None:
        return None
    return float(match.group("n")) * _UNIT_SECONDS[match.group("unit")]


def parse_duration(value: float | int | str) -> float:
    """Seconds for a duration value, which must be greater than 0. Raises ValueError for
    anything else.

    >>> parse_duration("2m"), parse_duration(1.5), parse_duration("500ms")
    (120.0, 1.5, 0.5)
    """
    seconds = duration_seconds(value)
    if seconds is None:
        raise ValueError(f"not a duration: {value!r}")
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be greater than 0: {value!r}")
    return seconds

"""What a provider's (or a gateway's) response headers say about its rate limits.

Every retry hint and rate-limit header is read here, and only here, from the headers of an
answer or of a failed call, whatever spelling the provider, the SDK or LiteLLM used:

- retry hints: `retry-after-ms` (milliseconds), `retry-after` (seconds or an HTTP date),
  their `llm_provider-` forms (how LiteLLM, and the LiteLLM proxy, pass a provider's headers
  on: the proxy's 429 carries only `llm_provider-retry-after`), and, when none is given,
  the `x-ratelimit-reset-requests|tokens` (OpenAI durations such as `1s`, `6m0s`, `20ms`)
  or `anthropic-ratelimit-requests|tokens-reset` (an RFC 3339 time) of a limit that is
  used up;
- the limits themselves: OpenAI's `x-ratelimit-limit|remaining|reset-requests|tokens`
  and Anthropic's `anthropic-ratelimit-requests|tokens|input-tokens|output-tokens-*`.

    hints = read_hints({"x-ratelimit-limit-requests": "300",
                        "x-ratelimit-remaining-requests": "0",
                        "x-ratelimit-reset-requests": "1.5s"})
    hints.retry_after_s            # 1.5: the request limit is used up until then

Nothing here imports a third-party package: the limiter and the adapter both use it.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = ["RateLimitHints", "parse_duration", "read_hints", "retry_after"]

_PREFIX = "llm_provider-"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True, slots=True)
class RateLimitHints:
    """The rate-limit state one response reported; None where it said nothing.

    Limits are per minute (as OpenAI and Anthropic define their headers); `reset_*_s`
    is how long until that limit is whole again; `retry_after_s` is the wait a 429 asked
    for, or the time until a used-up limit resets.
    """

    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests_s: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens_s: float | None = None
    retry_after_s: float | None = None

    @property
    def empty(self) -> bool:
        """True when the headers said nothing about rate limits."""
        return all(getattr(self, name) is None for name in self.__slots__)


def _lookup(headers: Mapping[str, str], name: str) -> str | None:
    """`name` or its `llm_provider-` form; the provider's own header wins."""
    for key in (name, _PREFIX + name):
        value = headers.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_duration(text: str | None) -> float | None:
    """Seconds in an OpenAI reset duration (`1s`, `6m0s`, `1h2m3.5s`, `20ms`) or a bare number.

    >>> parse_duration("6m0.5s")
    360.5
    """
    if text is None:
        return None
    plain = _number(text)
    if plain is not None:
        return plain
    total, position = 0.0, 0
    compact = text.replace(" ", "")
    for match in _DURATION_PART.finditer(compact):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if position == len(compact) and position else None


def _until(text: str | None, now: Callable[[], float]) -> float | None:
    """Seconds until an HTTP date or an RFC 3339 time; None if it is neither."""
    if text is None:
        return None
    when: float | None = None
    try:
        when = email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return max(0.0, when - now())


def retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds a 429 (or 503) asks the caller to wait: the explicit hint, in any spelling.

    `retry-after-ms` wins over `retry-after` (more precise); each is read in its plain and
    its `llm_provider-` form. None when the response gave no explicit hint.
    """
    millis = _number(_lookup(headers, "retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = _lookup(headers, "retry-after")
    if value is None:
        return None
    seconds = _number(value)
    return seconds if seconds is not None else _until(value, now)


def read_hints(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> RateLimitHints:
    """Every rate-limit fact in `headers` (names lower-cased), OpenAI's or Anthropic's form."""
    limit_r = _number(_lookup(headers, "x-ratelimit-limit-requests"))
    remaining_r = _number(_lookup(headers, "x-ratelimit-remaining-requests"))
    reset_r = parse_duration(_lookup(headers, "x-ratelimit-reset-requests"))
    limit_t = _number(_lookup(headers, "x-ratelimit-limit-tokens"))
    remaining_t = _number(_lookup(headers, "x-ratelimit-remaining-tokens"))
    reset_t = parse_duration(_lookup(headers, "x-ratelimit-reset-tokens"))
    anthropic = "anthropic-ratelimit-"
    if limit_r is None:
        limit_r = _number(_lookup(headers, anthropic + "requests-limit"))
        remaining_r = _number(_lookup(headers, anthropic + "requests-remaining"))
    if reset_r is None:  # LiteLLM copies Anthropic's counts, not its reset, to x-ratelimit-*
        reset_r = _until(_lookup(headers, anthropic + "requests-reset"), now)
    if limit_t is None:
        # the combined token limit, else the input-token one (the one prompts hit first)
        for kind in ("tokens", "input-tokens"):
            limit_t = _number(_lookup(headers, f"{anthropic}{kind}-limit"))
            if limit_t is not None:
                remaining_t = _number(_lookup(headers, f"{anthropic}{kind}-remaining"))
                reset_t = _until(_lookup(headers, f"{anthropic}{kind}-reset"), now)
                break
    hint = retry_after(headers, now)
    if hint is None:
        # A used-up limit resets at a known time: that is the wait, too.
        spent = [
            reset
            for remaining, reset in ((remaining_r, reset_r), (remaining_t, reset_t))
            if remaining is not None and remaining < 1 and reset is not None
        ]
        hint = max(spent) if spent else None
    return RateLimitHints(
        limit_requests=limit_r,
        remaining_requests=remaining_r,
        reset_requests_s=reset_r,
        limit_tokens=limit_t,
        remaining_tokens=remaining_t,
        reset_tokens_s=reset_t,
        retry_after_s=hint,
    )

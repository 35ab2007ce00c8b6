"""Adaptive limits: a key's effective rate and concurrency, tuned by what the provider says.

A provider's limits are often not declared (`limits:` is optional), or declared higher than
the account really has. Each limiter key therefore carries an `AdaptiveControl` that the
`RateLimiter` consults beside its declared buckets; it can only hold calls back, never
admit one the declared limits would not.

Signals
    - rate-limit headers on answers and on 429s (`agentflow.llm.hints`): OpenAI's
      `x-ratelimit-limit|remaining|reset-requests|tokens`, Anthropic's
      `anthropic-ratelimit-*`. A per-minute limit L sets the ceiling, L/60 per second; the
      remaining count keeps a mirror of the provider's bucket, so a key slows down
      *before* the provider says no;
    - 429s (rate limited, not out of quota).

Control (AIMD)
    - A key starts unlimited. Before its first answer, a key with no declared rate limits
      is *probing* (when the runner asks for it: runs that reach a real provider): at
      most `PROBE_WINDOW` calls in flight until the first answer, for at most `PROBE_S`
      after the first call. An answer without rate-limit headers opens the key; a 429 or
      rate-limit headers govern it. So 600 calls ready at once do not all hit an
      undeclared limit together (a provider's 429 comes back fast), and a run against an
      unlimited server loses at most the first answer's latency, never more than `PROBE_S`.
    - Once the provider has shown a limit, the key is *governed*: an effective request
      rate (and a token rate when tokens are limited) with a bucket mirroring the
      provider's (its capacity the most the provider ever reported remaining).
    - A 429 multiplies the effective rate by `DECREASE` (from the lower of the current
      rate and the requests sent in the last second), at most once per `COOLDOWN_S` and
      once per round: only a call admitted after the last decrease can cause another, so
      the 429s of calls already out at the old rate do not cut it again and again. A 429
      that only gives a retry hint (no rate-limit headers) pauses the key instead of
      cutting it: random 429s of a flaky gateway must not starve the key. A 429 without rate-limit headers also multiplies the concurrency window (calls in
      flight) by `DECREASE`, since its cause may be concurrency.
    - Every answer that was not refused adds `INCREASE` of the rate (and one slot to the
      window), up to the ceiling: `HEADROOM` of the provider's reported limit, and never
      above the declared limits (those buckets still apply).

`observe()` returns an `Adjustment` when the effective limits changed enough to be worth a
`ratelimit.adjusted` event (a decrease, a new ceiling, or a rise of 10% since the last one).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

from agentflow.llm.hints import RateLimitHints

PROBE_WINDOW = 16
PROBE_S = 1.0
DECREASE = 0.7
INCREASE = 0.02
COOLDOWN_S = 1.0  # and at most one cut a second: random 429s must not starve a key
HEADROOM = 0.95
MIN_RATE = 1.0 / 60.0  # one call a minute: a key never stops for good
PER_MINUTE = 60.0
_REPORT_STEP = 1.10

State = Literal["probing", "open", "governed"]
HoldReason = Literal["rpm", "tpm", "concurrency"]
AdjustReason = Literal["rate_limited", "headers", "recovered"]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """The effective limits of a key after a change (per minute; None: not limited)."""

    reason: AdjustReason
    rpm: float | None
    tpm: float | None
    max_concurrent: int | None
    provider_rpm: float | None
    provider_tpm: float | None


class _Mirror:
    """A token bucket that follows the provider's: its rate, its capacity, its level."""

    __slots__ = ("capacity", "ceiling", "level", "rate", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.ceiling = math.inf
        self.capacity = capacity
        self.level = capacity
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def delay(self, amount: float, now: float) -> float:
        self.refill(now)
        need = min(amount, self.capacity)
        missing = need - self.level
        return 0.0 if missing <= 1e-9 * max(1.0, need) else missing / self.rate

    def sync(self, remaining: float, since_s: float, taken_since: float, now: float) -> None:
        """Never more in the bucket than the provider said it had, counting what refilled
        and what was taken since that request was admitted."""
        self.refill(now)
        self.capacity = max(self.capacity if math.isfinite(self.capacity) else 0.0, remaining + 1)
        provider = remaining + since_s * self.rate - taken_since
        self.level = min(self.level, provider, self.capacity)


class AdaptiveControl:
    """The adaptive state of one limiter key (see the module docstring).

    `declared_rps`/`declared_tps`/`declared_concurrency` are the declared limits (None:
    none); the control never goes above them.
    """

    def __init__(
        self,
        *,
        declared_rps: float | None,
        declared_tps: float | None,
        declared_concurrency: int | None,
        probe: bool,
    ) -> None:
        self.state: State = "probing" if probe else "open"
        self._declared_rps = declared_rps
        self._declared_tps = declared_tps
        self._declared_concurrency = declared_concurrency
        self._probe_until: float | None = None
        self.requests: _Mirror | None = None
        self.tokens: _Mirror | None = None
        self.window: float | None = None
        self.provider_rpm: float | None = None
        self.provider_tpm: float | None = None
        self._last_decrease = -math.inf
        self._recent: deque[float] = deque()
        self.admitted = 0  # calls admitted so far (to count what was taken since one)
        self.tokens_admitted = 0
        self._reported: tuple[float | None, float | None, int | None] = (None, None, None)

    # -- what the limiter asks ------------------------------------------------------------

    def block(
        self, tokens: int, in_flight: int, now: float
    ) -> tuple[HoldReason, float | None] | None:
        """What keeps a call of `tokens` from going now: (reason, seconds or None), or None."""
        if self.state == "probing":
            if self._probe_until is not None and now >= self._probe_until:
                self.state = "open"
            elif in_flight >= PROBE_WINDOW:
                wait = None if self._probe_until is None else self._probe_until - now
                return ("concurrency", wait)
        worst: tuple[HoldReason, float | None] | None = None
        if self.window is not None and in_flight >= max(1, int(self.window)):
            worst = ("concurrency", None)
        checks: tuple[tuple[HoldReason, _Mirror | None, float], ...] = (
            ("rpm", self.requests, 1.0),
            ("tpm", self.tokens, float(tokens)),
        )
        for reason, mirror, amount in checks:
            if mirror is None:
                continue
            delay = mirror.delay(amount, now)
            if delay > 0 and (worst is None or worst[1] is None or delay > worst[1]):
                worst = (reason, delay)
        return worst

    def admit(self, tokens: int, now: float) -> None:
        """A call of `tokens` was admitted."""
        if self.state == "probing" and self._probe_until is None:
            self._probe_until = now + PROBE_S
        self.admitted += 1
        self.tokens_admitted += tokens
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if self.requests is not None:
            self.requests.refill(now)
            self.requests.level -= 1.0
        if self.tokens is not None:
            self.tokens.refill(now)
            self.tokens.level -= tokens

    def settle(self, difference: int, now: float) -> None:
        """A call's tokens turned out `difference` more (or fewer) than admitted."""
        self.tokens_admitted += difference
        if self.tokens is not None:
            self.tokens.refill(now)
            self.tokens.level = min(self.tokens.capacity, self.tokens.level - difference)

    # -- what the provider said -----------------------------------------------------------

    def observe(
        self,
        hints: RateLimitHints | None,
        *,
        throttled: bool,
        admitted_at: float,
        admitted_before: tuple[int, int],
        in_flight: int,
        now: float,
    ) -> Adjustment | None:
        """Take in one call's outcome: its headers, and whether it was refused (429).

        `admitted_at` is when the call was admitted and `admitted_before` the (calls,
        tokens) admitted before it, so the provider's remaining counts can be compared
        with what was sent since.
        """
        reason: AdjustReason | None = None
        limited = hints is not None and (
            hints.limit_requests is not None or hints.limit_tokens is not None
        )
        if limited:
            assert hints is not None
            self.state = "governed"
            if self._learn(hints, admitted_at, admitted_before, now):
                reason = "headers"
        elif self.state == "probing" and not throttled:
            self.state = "open"  # an answer with nothing to learn: no need to hold back
        if throttled:
            self.state = "governed"
            # A 429 that said when to come back is waited out by pausing the key; the rate
            # is cut when the provider showed its limit, or gave no hint at all.
            hinted = hints is not None and hints.retry_after_s is not None and not limited
            fresh = admitted_at > self._last_decrease and now - self._last_decrease >= COOLDOWN_S
            if fresh and not hinted:
                self._last_decrease = now
                self._decrease(now, None if limited else in_flight)
                reason = "rate_limited"
            if self.requests is not None:
                self.requests.refill(now)
                self.requests.level = min(self.requests.level, 0.0)
        else:
            self._increase(now)
        return self._report(reason)

    def _learn(
        self,
        hints: RateLimitHints,
        admitted_at: float,
        admitted_before: tuple[int, int],
        now: float,
    ) -> bool:
        """Set ceilings and mirror levels from rate-limit headers; True if a ceiling is new."""
        new = False
        since = max(0.0, now - admitted_at)
        for kind, limit, remaining in (
            ("requests", hints.limit_requests, hints.remaining_requests),
            ("tokens", hints.limit_tokens, hints.remaining_tokens),
        ):
            if limit is None or limit <= 0:
                continue
            declared = self._declared_rps if kind == "requests" else self._declared_tps
            ceiling = min(HEADROOM * limit / PER_MINUTE, declared or math.inf)
            mirror = self.requests if kind == "requests" else self.tokens
            if mirror is None:
                start = ceiling
                capacity = remaining + 1 if remaining is not None else max(1.0, ceiling)
                mirror = _Mirror(start, capacity, now)
                mirror.level = capacity - 1 if remaining is None else remaining
                if kind == "requests":
                    self.requests = mirror
                    self.provider_rpm = limit
                else:
                    self.tokens = mirror
                    self.provider_tpm = limit
                new = True
            elif (self.provider_rpm if kind == "requests" else self.provider_tpm) != limit:
                if kind == "requests":
                    self.provider_rpm = limit
                else:
                    self.provider_tpm = limit
                new = True
            mirror.ceiling = ceiling
            mirror.rate = min(mirror.rate, ceiling)
            if remaining is not None:
                taken = (
                    self.admitted - admitted_before[0] - 1
                    if kind == "requests"
                    else self.tokens_admitted - admitted_before[1]
                )
                mirror.sync(remaining, since, max(0.0, float(taken)), now)
        return new

    def _recent_rate(self, now: float) -> float:
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        return float(len(self._recent))

    def _decrease(self, now: float, in_flight: int | None) -> None:
        """Cut the rate (and, when `in_flight` is given, the concurrency window)."""
        recent = self._recent_rate(now) or math.inf
        if self.requests is None:
            self.requests = _Mirror(recent if math.isfinite(recent) else 1.0, 1.0, now)
            self.requests.level = 0.0
        self.requests.rate = max(MIN_RATE, DECREASE * min(self.requests.rate, recent))
        if self.tokens is not None:
            self.tokens.rate = max(1.0, DECREASE * self.tokens.rate)
        if in_flight is not None:
            current = self.window if self.window is not None else float(in_flight + 1)
            self.window = max(1.0, DECREASE * current)

    def _increase(self, now: float) -> None:
        for mirror, floor, declared in (
            (self.requests, MIN_RATE, self._declared_rps),
            (self.tokens, 1.0, self._declared_tps),
        ):
            if mirror is None:
                continue
            top = min(mirror.ceiling, declared if declared is not None else math.inf)
            if mirror.rate < top:
                mirror.refill(now)
                mirror.rate = min(top, max(floor, mirror.rate * (1.0 + INCREASE)))
        if self.window is not None:
            self.window += 1.0
            if self._declared_concurrency is not None:
                self.window = min(self.window, float(self._declared_concurrency))

    # -- what is shown ---------------------------------------------------------------------

    @property
    def rpm(self) -> float | None:
        """The effective request rate per minute, or None when not limited."""
        return None if self.requests is None else self.requests.rate * PER_MINUTE

    @property
    def tpm(self) -> float | None:
        return None if self.tokens is None else self.tokens.rate * PER_MINUTE

    @property
    def max_concurrent(self) -> int | None:
        return None if self.window is None else max(1, int(self.window))

    def _report(self, reason: AdjustReason | None) -> Adjustment | None:
        current = (self.rpm, self.tpm, self.max_concurrent)
        if reason is None:
            # A rise is news when a rate rose by 10% (the window grows by one an answer).
            rates = zip(current[:2], self._reported[:2], strict=True)
            if not any(_risen(now, before) for now, before in rates):
                return None
            reason = "recovered"
        self._reported = current
        return Adjustment(
            reason=reason,
            rpm=_rounded(self.rpm),
            tpm=_rounded(self.tpm),
            max_concurrent=self.max_concurrent,
            provider_rpm=self.provider_rpm,
            provider_tpm=self.provider_tpm,
        )


def _risen(now: float | int | None, before: float | int | None) -> bool:
    if now is None or before is None:
        return False
    return now >= before * _REPORT_STEP


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

"""When to retry a failed model call, and how long to wait first.

The engine owns retries (LiteLLM runs with `num_retries=0`). A call is retried only when it
failed with an `LLMError` whose class is `retryable` (rate limit, timeout, connection, server
error) and attempts remain; quota, auth, bad request, context window, content policy and not
found errors fail at once, and a `BudgetExceeded` is never retried.

    attempt = 1
    while True:
        try:
            return await call()
        except LLMError as error:
            if not should_retry(error, attempt, policy):
                raise
            await clock.sleep(backoff_delay(policy, attempt, rng, error.retry_after))
            attempt += 1
"""

from __future__ import annotations

import math
import random

from agentflow.errors import LLMError
from agentflow.model.types import RetryPolicy

MAX_RETRY_AFTER = 120.0
"""The longest Retry-After the engine honours, in seconds.

A server asking for more (or sending a date far ahead) is capped here: a retry an hour later
is better decided by the user than by a stuck run. The floor may exceed the policy's
`max_delay`, which caps only the computed backoff.
"""


def backoff_delay(
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 = before the second try).

    The base delay is `initial * multiplier ** (attempt - 1)` (exponential),
    `initial * attempt` (linear) or `initial` (constant), capped at `max_delay`. With
    `jitter`, the delay is drawn uniformly from [0, capped] ("full jitter", which spreads
    retries of many agents that failed together). A server's `retry_after` is a floor, itself
    capped at `MAX_RETRY_AFTER`; negative or non-finite values are ignored.

    >>> backoff_delay(RetryPolicy(jitter=False), 3, random.Random(0))
    4.0
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    initial = max(0.0, float(policy.initial_delay))
    cap = max(0.0, float(policy.max_delay))
    if policy.backoff == "exponential":
        try:
            base = initial * float(policy.multiplier) ** (attempt - 1)
        except OverflowError:
            base = math.inf
    elif policy.backoff == "linear":
        base = initial * attempt
    else:
        base = initial
    delay = min(base, cap) if not math.isnan(base) else cap
    if policy.jitter:
        delay = rng.uniform(0.0, delay)
    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def should_retry(error: BaseException, attempt: int, policy: RetryPolicy) -> bool:
    """Whether a call that failed with `error` on attempt `attempt` (from 1) is tried again.

    Only `LLMError` subclasses marked `retryable` are, and only while
    `attempt < policy.max_attempts`. Everything else (budget refusals, cancellation, bugs)
    propagates at once.
    """
    if not isinstance(error, LLMError):
        return False
    return type(error).retryable and attempt < policy.max_attempts

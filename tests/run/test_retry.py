from __future__ import annotations

import asyncio
import inspect
import random

import pytest

from agentflow import errors
from agentflow.model.types import RetryPolicy
from agentflow.run.retry import MAX_RETRY_AFTER, backoff_delay, should_retry


def delays(policy: RetryPolicy, attempts: int = 6) -> list[float]:
    rng = random.Random(0)
    return [backoff_delay(policy, n, rng) for n in range(1, attempts + 1)]


def test_exponential_delays_double_until_the_cap() -> None:
    policy = RetryPolicy(
        backoff="exponential", initial_delay=1, multiplier=2, max_delay=10, jitter=False
    )
    assert delays(policy) == [1, 2, 4, 8, 10, 10]


def test_exponential_uses_the_multiplier() -> None:
    policy = RetryPolicy(
        backoff="exponential", initial_delay=0.5, multiplier=3, max_delay=100, jitter=False
    )
    assert delays(policy, 4) == [0.5, 1.5, 4.5, 13.5]


def test_linear_delays_grow_by_the_initial_delay() -> None:
    policy = RetryPolicy(backoff="linear", initial_delay=2, max_delay=7, jitter=False)
    assert delays(policy, 5) == [2, 4, 6, 7, 7]


def test_constant_delay_stays_put_and_is_still_capped() -> None:
    assert delays(RetryPolicy(backoff="constant", initial_delay=3, jitter=False), 3) == [3, 3, 3]
    capped = RetryPolicy(backoff="constant", initial_delay=50, max_delay=5, jitter=False)
    assert delays(capped, 2) == [5, 5]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(initial_delay=1, multiplier=10, max_delay=30, jitter=False)
    assert backoff_delay(policy, 5000, random.Random(0)) == 30


def test_full_jitter_stays_within_zero_and_the_capped_delay() -> None:
    policy = RetryPolicy(initial_delay=1, multiplier=2, max_delay=10, jitter=True)
    rng = random.Random(1234)
    for attempt in range(1, 8):
        cap = min(2.0 ** (attempt - 1), 10.0)
        samples = [backoff_delay(policy, attempt, rng) for _ in range(300)]
        assert all(0.0 <= s <= cap for s in samples)
        # full jitter spreads over the whole range, not just near the top
        assert min(samples) < 0.1 * cap
        assert max(samples) > 0.9 * cap


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy(jitter=True)
    assert delays(policy) == delays(policy)
    assert len(set(delays(policy))) > 1


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(initial_delay=1, max_delay=30, jitter=False)
    rng = random.Random(0)
    assert backoff_delay(policy, 1, rng, retry_after=12.5) == 12.5
    # a shorter Retry-After does not shorten the backoff
    assert backoff_delay(policy, 4, rng, retry_after=2) == 8


def test_retry_after_beats_jitter_and_max_delay() -> None:
    policy = RetryPolicy(initial_delay=1, max_delay=5, jitter=True)
    rng = random.Random(7)
    assert all(backoff_delay(policy, 3, rng, retry_after=40) == 40 for _ in range(20))


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(jitter=False)
    assert backoff_delay(policy, 1, random.Random(0), retry_after=86_400) == MAX_RETRY_AFTER
    assert MAX_RETRY_AFTER == 120.0


@pytest.mark.parametrize("bad", [-3.0, float("nan"), float("inf"), 0.0])
def test_meaningless_retry_after_is_ignored(bad: float) -> None:
    policy = RetryPolicy(initial_delay=1, jitter=False)
    assert backoff_delay(policy, 2, random.Random(0), retry_after=bad) == 2


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(RetryPolicy(), 0, random.Random(0))


# Every exception class in agentflow.errors, and whether a model call failing with it is retried.
EXPECTED_RETRYABLE: dict[str, bool] = {
    "AgentflowError": False,
    "UsageError": False,
    "WorkflowInvalid": False,
    "RunFailed": False,
    "GroupHeld": False,
    "RunSkipped": False,
    "BudgetExceeded": False,
    "StateError": False,
    "SharedStateUnreachable": False,
    "AgentError": False,
    "TemplateRenderError": False,
    "OutputInvalid": False,
    "SchemaInvalid": False,
    "ToolLoopExceeded": False,
    "ToolServerError": False,
    "ToolError": False,
    "LLMError": False,
    "RateLimited": True,
    "QuotaExceeded": False,
    "LLMTimeout": True,
    "LLMConnectionError": True,
    "ConnectFailed": True,
    "ServerError": True,
    "AuthenticationFailed": False,
    "BadRequest": False,
    "ContextWindowExceeded": False,
    "ContentPolicyViolation": False,
    "MockError": False,
    "ModelNotFound": False,
}


def _error_classes() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    }


def _instance(cls: type[BaseException]) -> BaseException:
    if cls is errors.WorkflowInvalid:
        return errors.WorkflowInvalid([])
    return cls("boom")


def test_the_classification_table_covers_every_error_class() -> None:
    assert set(_error_classes()) == set(EXPECTED_RETRYABLE)


@pytest.mark.parametrize("name", sorted(EXPECTED_RETRYABLE))
def test_error_class_classification(name: str) -> None:
    error = _instance(_error_classes()[name])
    policy = RetryPolicy(max_attempts=3)
    assert should_retry(error, 1, policy) is EXPECTED_RETRYABLE[name]


@pytest.mark.parametrize(("attempt", "expected"), [(1, True), (2, True), (3, False), (4, False)])
def test_retries_stop_at_max_attempts(attempt: int, expected: bool) -> None:
    policy = RetryPolicy(max_attempts=3)
    assert should_retry(errors.ServerError("503", status_code=503), attempt, policy) is expected


def test_a_single_attempt_policy_never_retries() -> None:
    assert not should_retry(errors.RateLimited("429"), 1, RetryPolicy(max_attempts=1))


@pytest.mark.parametrize(
    "error",
    [asyncio.CancelledError(), KeyboardInterrupt(), ValueError("bug"), TimeoutError()],
)
def test_foreign_exceptions_are_never_retried(error: BaseException) -> None:
    assert not should_retry(error, 1, RetryPolicy(max_attempts=10))

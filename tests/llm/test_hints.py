"""Retry hints and rate-limit headers, in every spelling providers, SDKs and gateways use."""

from __future__ import annotations

import pytest

from agentflow.llm.hints import RateLimitHints, parse_duration, read_hints, retry_after

NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"llm_provider-retry-after": "60"}, 60.0),  # the LiteLLM proxy's 429
        ({"llm_provider-retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_every_form(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, clock) == expected


def test_an_http_date_hint_counts_from_now() -> None:
    headers = {"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}
    assert retry_after(headers, lambda: 1_767_225_600.0) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5", 0.5)],
)
def test_openai_reset_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "1s2"])
def test_a_reset_that_is_not_a_duration_is_ignored(text: str) -> None:
    assert parse_duration(text) is None


def test_openai_rate_limit_headers() -> None:
    hints = read_hints(
        {
            "x-ratelimit-limit-requests": "300",
            "x-ratelimit-remaining-requests": "12",
            "x-ratelimit-reset-requests": "2.4s",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "149000",
            "x-ratelimit-reset-tokens": "400ms",
        },
        clock,
    )
    assert hints == RateLimitHints(300, 12, 2.4, 150000, 149000, 0.4, None)


def test_the_llm_provider_forms_litellm_passes_on_are_read_too() -> None:
    hints = read_hints(
        {
            "llm_provider-x-ratelimit-limit-requests": "60",
            "llm_provider-x-ratelimit-remaining-requests": "0",
            "llm_provider-x-ratelimit-reset-requests": "1m0s",
        },
        clock,
    )
    assert (hints.limit_requests, hints.remaining_requests) == (60, 0)
    # a used-up limit with no explicit hint: wait until it resets
    assert hints.retry_after_s == 60.0


def test_anthropic_rate_limit_headers() -> None:
    hints = read_hints(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:10Z",
            "anthropic-ratelimit-input-tokens-limit": "40000",
            "anthropic-ratelimit-input-tokens-remaining": "39000",
            "anthropic-ratelimit-input-tokens-reset": "2027-01-15T08:00:01Z",
        },
        lambda: 1_800_000_000.0,  # 2027-01-15T08:00:00Z
    )
    assert hints.limit_requests == 50 and hints.remaining_requests == 0
    assert hints.reset_requests_s == pytest.approx(10.0)
    assert (hints.limit_tokens, hints.remaining_tokens) == (40000, 39000)
    assert hints.retry_after_s == pytest.approx(10.0)


def test_an_explicit_hint_wins_over_a_reset() -> None:
    hints = read_hints(
        {
            "retry-after": "2",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "30s",
        },
        clock,
    )
    assert hints.retry_after_s == 2.0


def test_headers_without_rate_limit_facts_are_empty() -> None:
    assert read_hints({"content-type": "application/json"}, clock).empty
    assert not read_hints({"retry-after": "1"}, clock).empty

"""Every exception a LiteLLM call can raise becomes one of the project's LLMError classes."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest

from agentflow import errors
from agentflow.llm.litellm_client import LiteLLMClient, scrub_secrets, translate_error

LiteLLMClient()  # imports and quiets litellm, once for the module
import litellm  # noqa: E402  (only after the client configured it)
import litellm.exceptions as ex  # noqa: E402

M, P = "gpt-4o-mini", "openai"
REQ = httpx.Request("POST", "https://api.example.test/v1/chat/completions")


def _resp(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQ)


# (how to build it, the project class it must become)
CASES: dict[str, tuple[Callable[[], BaseException], type[errors.LLMError]]] = {
    "AuthenticationError": (
        lambda: ex.AuthenticationError("bad key", P, M),
        errors.AuthenticationFailed,
    ),
    "NotFoundError": (lambda: ex.NotFoundError("no model", M, P), errors.ModelNotFound),
    "BadRequestError": (lambda: ex.BadRequestError("bad", M, P), errors.BadRequest),
    "ImageFetchError": (lambda: ex.ImageFetchError("no image"), errors.BadRequest),
    "VectorStoreSearchError": (
        lambda: ex.VectorStoreSearchError([{"vector_store_id": "vs1", "error": "x"}]),  # type: ignore[list-item]
        errors.BadRequest,
    ),
    "UnprocessableEntityError": (
        lambda: ex.UnprocessableEntityError("unprocessable", M, P, _resp(422)),
        errors.BadRequest,
    ),
    "Timeout": (lambda: ex.Timeout("slow", M, P), errors.LLMTimeout),
    "PermissionDeniedError": (
        lambda: ex.PermissionDeniedError("denied", P, M, _resp(403)),
        errors.AuthenticationFailed,
    ),
    "RateLimitError": (lambda: ex.RateLimitError("slow down", P, M), errors.RateLimited),
    "ContextWindowExceededError": (
        lambda: ex.ContextWindowExceededError("too long", M, P),
        errors.ContextWindowExceeded,
    ),
    "PaymentRequiredError": (lambda: ex.PaymentRequiredError("pay", M, P), errors.QuotaExceeded),
    "RejectedRequestError": (
        lambda: ex.RejectedRequestError("rejected", M, P, request_data={}),
        errors.ContentPolicyViolation,
    ),
    "ContentPolicyViolationError": (
        lambda: ex.ContentPolicyViolationError("unsafe", M, P),
        errors.ContentPolicyViolation,
    ),
    "ServiceUnavailableError": (
        lambda: ex.ServiceUnavailableError("down", P, M),
        errors.ServerError,
    ),
    "BadGatewayError": (lambda: ex.BadGatewayError("gateway", P, M), errors.ServerError),
    "InternalServerError": (lambda: ex.InternalServerError("boom", P, M), errors.ServerError),
    "APIError": (lambda: ex.APIError(503, "api", P, M), errors.ServerError),
    "APIConnectionError": (
        lambda: ex.APIConnectionError("refused", P, M),
        errors.LLMConnectionError,
    ),
    "APIResponseValidationError": (
        lambda: ex.APIResponseValidationError("garbled", P, M),
        errors.ServerError,
    ),
    "JSONSchemaValidationError": (
        lambda: ex.JSONSchemaValidationError(M, P, "{}", "{}"),
        errors.ServerError,
    ),
    "OpenAIError": (lambda: ex.OpenAIError(), errors.LLMError),
    "UnsupportedParamsError": (
        lambda: ex.UnsupportedParamsError("no temp", P, M),
        errors.BadRequest,
    ),
    "ModelNotMappedError": (lambda: ex.ModelNotMappedError("unmapped"), errors.LLMError),
    "BudgetExceededError": (lambda: ex.BudgetExceededError(2.0, 1.0), errors.QuotaExceeded),
    "InvalidRequestError": (lambda: ex.InvalidRequestError("invalid", M, P), errors.BadRequest),
    "MockException": (lambda: ex.MockException(429, "mocked", P, M), errors.RateLimited),
    "LiteLLMUnknownProvider": (
        lambda: ex.LiteLLMUnknownProvider("mystery-model"),
        errors.BadRequest,
    ),
    "GuardrailRaisedException": (
        lambda: ex.GuardrailRaisedException("pii", "blocked"),
        errors.ContentPolicyViolation,
    ),
    "BlockedPiiEntityError": (
        lambda: ex.BlockedPiiEntityError("EMAIL", "pii"),
        errors.ContentPolicyViolation,
    ),
    "MidStreamFallbackError": (lambda: ex.MidStreamFallbackError("cut", M, P), errors.ServerError),
    "ModifyResponseException": (
        lambda: ex.ModifyResponseException("modified", M, request_data={}),
        errors.LLMError,
    ),
    "SensitiveDataRouteException": (
        lambda: ex.SensitiveDataRouteException("other-model", "s1"),
        errors.LLMError,
    ),
}


def _litellm_exception_classes() -> set[str]:
    return {
        name
        for name, obj in vars(ex).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == ex.__name__
    }


def test_every_litellm_exception_class_has_a_translation_case() -> None:
    missing = _litellm_exception_classes() - set(CASES)
    assert not missing, f"litellm has exception classes without a translation test: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_litellm_exception_becomes_the_project_class(name: str) -> None:
    build, expected = CASES[name]
    exc = build()
    assert type(exc).__name__ == name
    translated = translate_error(exc)
    assert type(translated) is expected
    assert translated.retryable is expected.retryable
    assert str(translated)


def test_retryable_classes_follow_the_design() -> None:
    retryable = {name for name, (build, _) in CASES.items() if translate_error(build()).retryable}
    assert retryable == {
        "Timeout", "RateLimitError", "ServiceUnavailableError", "BadGatewayError",
        "InternalServerError", "APIError", "APIConnectionError", "APIResponseValidationError",
        "JSONSchemaValidationError", "MockException", "MidStreamFallbackError",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            ex.RateLimitError("You exceeded your current quota: insufficient_quota", P, M),
            errors.QuotaExceeded,
        ),
        (ex.RateLimitError("x", P, M, body={"code": "insufficient_quota"}), errors.QuotaExceeded),
        (ex.RateLimitError("budget", P, M, rate_limit_type="budget"), errors.QuotaExceeded),
        (ex.APIError(500, "x", P, M), errors.ServerError),
        (ex.APIError(529, "Overloaded", P, M), errors.ServerError),
        (ex.APIError(429, "x", P, M), errors.RateLimited),
        (ex.APIError(408, "x", P, M), errors.LLMTimeout),
        (ex.APIError(401, "x", P, M), errors.AuthenticationFailed),
        (ex.APIError(403, "x", P, M), errors.AuthenticationFailed),
        (ex.APIError(404, "x", P, M), errors.ModelNotFound),
        (ex.APIError(422, "x", P, M), errors.BadRequest),
        (ex.MockException(500, "x", P, M), errors.ServerError),
    ],
)
def test_special_cases_are_classified_by_code_and_status(
    exc: BaseException, expected: type[errors.LLMError]
) -> None:
    assert type(translate_error(exc)) is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("read timed out", request=REQ), errors.LLMTimeout),
        (httpx.ConnectError("refused", request=REQ), errors.ConnectFailed),
        (httpx.RemoteProtocolError("eof", request=REQ), errors.LLMConnectionError),
        (TimeoutError(), errors.LLMTimeout),
        (ConnectionResetError("reset"), errors.LLMConnectionError),
        (ValueError("something unexpected"), errors.LLMError),
        (RuntimeError("the model is overloaded"), errors.ServerError),
    ],
)
def test_transport_and_unknown_exceptions(
    exc: BaseException, expected: type[errors.LLMError]
) -> None:
    translated = translate_error(exc)
    assert type(translated) is expected


def test_openai_sdk_exceptions_are_translated_too() -> None:
    import openai

    assert type(translate_error(openai.APITimeoutError(request=REQ))) is errors.LLMTimeout
    status = openai.APIStatusError("bad gateway", response=_resp(502), body=None)
    assert type(translate_error(status)) is errors.ServerError
    rate = openai.RateLimitError("slow", response=_resp(429, {"retry-after": "7"}), body=None)
    translated = translate_error(rate)
    assert type(translated) is errors.RateLimited
    assert translated.retry_after == 7.0


def test_unknown_exception_is_not_retryable() -> None:
    translated = translate_error(KeyError("choices"))
    assert type(translated) is errors.LLMError
    assert translated.retryable is False


def test_status_code_is_kept() -> None:
    assert translate_error(ex.RateLimitError("x", P, M)).status_code == 429
    assert translate_error(ex.APIError(503, "x", P, M)).status_code == 503


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_from_response_headers(headers: dict[str, str], expected: float | None) -> None:
    exc = ex.RateLimitError("x", P, M, response=_resp(429, headers))
    assert translate_error(exc).retry_after == expected


def test_retry_after_as_http_date() -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    exc = ex.RateLimitError("x", P, M, headers={"retry-after": when})
    retry_after = translate_error(exc).retry_after
    assert retry_after is not None
    assert 25 <= retry_after <= 31


def test_retry_after_on_server_errors() -> None:
    exc = ex.ServiceUnavailableError("down", P, M, response=_resp(503, {"retry-after": "2"}))
    assert translate_error(exc).retry_after == 2.0


SECRET_MESSAGES = [
    "Incorrect API key provided: sk-proj-AbCdEf1234567890xyz. Find your key at ...",
    "request failed with headers {'Authorization': 'Bearer sk-abcdef123456789'}",
    "invalid x-api-key: sk-ant-api03-SECRETSECRET",
    'body {"api_key": "my-secret-key-value"}',
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
]


@pytest.mark.parametrize("message", SECRET_MESSAGES)
def test_messages_never_carry_keys(message: str) -> None:
    translated = translate_error(ex.AuthenticationError(message, P, M))
    text = str(translated)
    for secret in (
        "AbCdEf1234567890xyz",
        "abcdef123456789",
        "SECRETSECRET",
        "my-secret-key-value",
        "eyJhbGci",
    ):
        assert secret not in text
    assert scrub_secrets(message) != message


def test_long_messages_are_cut() -> None:
    assert len(scrub_secrets("x" * 10_000)) <= 2000


def test_project_errors_pass_through_unchanged() -> None:
    original = errors.RateLimited("already ours", retry_after=1.0)
    assert translate_error(original) is original


def test_litellm_is_the_configured_module() -> None:
    assert litellm.suppress_debug_info is True


def test_connection_failure_reported_as_500_is_a_connection_error() -> None:
    exc = ex.InternalServerError("OpenAIException - Connection error.", P, M)
    exc.__cause__ = httpx.ConnectError("Cannot connect to host", request=REQ)
    assert type(translate_error(exc)) is errors.ConnectFailed


def test_only_a_connection_lost_after_sending_may_have_been_billed() -> None:
    refused = translate_error(httpx.ConnectError("refused", request=REQ))
    lost = translate_error(httpx.RemoteProtocolError("eof", request=REQ))
    assert isinstance(refused, errors.LLMConnectionError) and refused.retryable
    assert (refused.unanswered, lost.unanswered) == (False, True)


def test_real_5xx_stays_a_server_error() -> None:
    assert type(translate_error(ex.InternalServerError("boom", P, M))) is errors.ServerError


def test_a_key_missing_from_the_environment_is_an_authentication_error_not_a_500() -> None:
    # LiteLLM raises this as an InternalServerError; retrying it would never help.
    raised = ex.InternalServerError(
        message="OpenAIException - Missing credentials. Please pass an `api_key`",
        llm_provider="openai",
        model="gpt-4o-mini",
    )
    translated = translate_error(raised)
    assert isinstance(translated, errors.AuthenticationFailed)
    assert not translated.retryable


def test_the_gateway_retry_hint_is_read_from_the_exception_headers() -> None:
    # The LiteLLM proxy's 429 carries its wait only as llm_provider-retry-after.
    exc = ex.RateLimitError("x", P, M, response=_resp(429, {"llm_provider-retry-after": "60"}))
    translated = translate_error(exc)
    assert type(translated) is errors.RateLimited
    assert translated.retry_after == 60.0


def test_a_used_up_limit_waits_until_its_reset_and_keeps_the_limits() -> None:
    headers = {
        "x-ratelimit-limit-requests": "300",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1.5s",
    }
    translated = translate_error(ex.RateLimitError("x", P, M, headers=headers))
    assert translated.retry_after == 1.5
    assert translated.rate_limits is not None
    assert translated.rate_limits.limit_requests == 300


def test_a_gateways_invalid_model_name_400_is_model_not_found() -> None:
    message = (
        "OpenAIException - /chat/completions: Invalid model name passed in model=team-gptx. "
        "Call `/v1/models` to view available models for your key."
    )
    assert type(translate_error(ex.BadRequestError(message, M, P))) is errors.ModelNotFound
    status = ex.APIError(400, message, P, M)
    assert type(translate_error(status)) is errors.ModelNotFound
    # an ordinary bad request stays one
    assert type(translate_error(ex.BadRequestError("bad temperature", M, P))) is errors.BadRequest


def test_a_litellm_proxy_refusing_a_key_it_cannot_look_up_is_an_authentication_error() -> None:
    body = '{"error": {"message": "No connected db.", "type": "no_db_connection", "code": "400"}}'
    exc = ex.BadRequestError(f"OpenAIException - {body}", M, P)
    assert type(translate_error(exc)) is errors.AuthenticationFailed

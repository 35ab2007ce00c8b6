"""The LiteLLM adapter: the only module that imports litellm, and only when a client is made.

`LiteLLMClient.complete()` turns an `LLMRequest` into one `litellm.acompletion` call (its
own retries off: the engine owns retries) and the answer into an `LLMResponse`. Every
exception LiteLLM, the OpenAI SDK, httpx or aiohttp can raise is translated by
`translate_error()` into the project's `LLMError` tree; nothing else escapes.

    client = LiteLLMClient()
    try:
        response = await client.complete(request)
    finally:
        await client.aclose()
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from agentflow.errors import (
    AuthenticationFailed,
    BadRequest,
    ConnectFailed,
    ContentPolicyViolation,
    ContextWindowExceeded,
    LLMConnectionError,
    LLMError,
    LLMTimeout,
    ModelNotFound,
    QuotaExceeded,
    RateLimited,
    ServerError,
)
from agentflow.llm.hints import read_hints
from agentflow.llm.send_gate import (
    MAX_PREPARING,
    SendGate,
    SendGateStatistics,
    request_reached_pool,
)
from agentflow.llm.types import (
    LLMRequest,
    LLMResponse,
    Message,
    ToolCall,
    ToolSpec,
    current_delivery,
    request_sent,
)
from agentflow.model.types import thaw

__all__ = ["DEFAULT_MAX_CONNECTIONS", "LiteLLMClient", "scrub_secrets", "translate_error"]

# Open connections the client's pool allows, in total and to one host. LiteLLM's own
# default is 1000 / 500 per host; the engine can run more calls than that at once
# against one endpoint, so the cap is the client's to choose.
DEFAULT_MAX_CONNECTIONS = 1000

_litellm: Any = None
_connector_class: Any = None
_QUIET_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def _paced_connector() -> Any:
    """aiohttp's connector, telling the send gate when a request asks for a connection."""
    global _connector_class
    if _connector_class is None:
        import aiohttp

        class PacedConnector(aiohttp.TCPConnector):
            async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
                request_reached_pool()
                request_sent()  # asking for a connection is the moment a request goes out
                return await super().connect(req, traces, timeout)

        _connector_class = PacedConnector
    return _connector_class


def _import_litellm() -> Any:
    """Import and quiet litellm once per process (~2.5 s, ~170 MB the first time)."""
    global _litellm
    if _litellm is None:
        # The price list ships with litellm; without this it is fetched at import.
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import litellm

        litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" prints
        litellm.telemetry = False
        litellm.drop_params = False
        # No LiteLLM callbacks are registered, so there is no message logging to turn off;
        # turning it off anyway makes LiteLLM copy and redact its logging object on every
        # call (about 8% of a call's CPU).
        litellm.turn_off_message_logging = False
        if not os.environ.get("LITELLM_LOG"):  # an explicit LITELLM_LOG still wins
            for name in _QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        _defer_default_tokenizer()
        _warm_up(litellm)
        _litellm = litellm
    return _litellm


class _DeferredTokenizer:
    """LiteLLM's default tokenizer (tiktoken `cl100k_base`), loaded on its first use.

    Stands in for `litellm.main.encoding`, the lazy attribute LiteLLM's providers read to
    hand their request handler a tokenizer. Every attribute is the real tokenizer's, loaded
    by LiteLLM's own lazy loader (which then puts the real one in the attribute), so a
    provider that does count with it (ollama's answers without usage, for one) counts as
    before.
    """

    __slots__ = ("_load",)

    def __init__(self, load: Callable[[str], Any]) -> None:
        self._load = load

    def __getattr__(self, name: str) -> Any:
        return getattr(self._load("encoding"), name)

    def __repr__(self) -> str:
        return "<LiteLLM's default tokenizer, loaded on first use>"


def _defer_default_tokenizer() -> None:
    # Most of LiteLLM's providers (among them `hosted_vllm`, the direct route's) evaluate
    # `encoding=_get_encoding()` on every call, which loads tiktoken `cl100k_base` (~40 MB
    # resident, ~0.4 s) the first time, whether the provider reads it or not; the
    # OpenAI-compatible ones never read it (the server's `usage` is the count). LiteLLM
    # loads it through the lazy module attribute `encoding`: set first, it is what every
    # call is handed, and the tokenizer loads when something uses it. Releases that load
    # the tokenizer at import already have the attribute: nothing to do.
    import litellm.main as main

    namespace = vars(main)
    lazy = namespace.get("__getattr__")
    if "encoding" not in namespace and "_get_encoding" in namespace and callable(lazy):
        namespace["encoding"] = _DeferredTokenizer(lazy)


def _warm_up(litellm: Any) -> None:
    # LiteLLM's response types finish building their pydantic schemas on first use, and
    # pydantic then warns (UserWarning, "... using the `ReadOnly` qualifier") about
    # litellm's own TypedDicts: once, on stderr, in the middle of the first call. Build
    # them now, with that warning silenced, so it never reaches the user or a test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        litellm.ModelResponse(
            choices=[
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ],
                    },
                }
            ],
            usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        )


class LiteLLMClient:
    """An `LLMClient` that calls models through `litellm.acompletion`.

    Importing litellm happens here, in the constructor, so its cost is paid before a
    run starts rather than inside the first call's timeout. The HTTP connection pool
    (an aiohttp session handed to LiteLLM as `shared_session`) is created on the
    first call, inside the running event loop, and closed by `aclose()`.
    `max_connections` caps open connections in total and per host; `max_preparing`
    how many requests LiteLLM prepares at once (`agentflow.llm.send_gate`);
    `direct_http=False` keeps every call on the provider LiteLLM picks for the model name
    (see `direct_route`).
    """

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_preparing: int = MAX_PREPARING,
        direct_http: bool = True,
    ) -> None:
        self._litellm = _import_litellm()
        self._direct_http = direct_http
        self._max_connections = max_connections
        self._max_preparing = max_preparing
        self._session: Any = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._gate: SendGate | None = None
        self._providers: dict[str, bool] = {}
        self._needs_key: dict[str, bool] = {}
        # Targets whose requests were seen going out through the pool: for those, a request
        # that never did was never sent (see `Delivery`).
        self._seen_sending: set[tuple[str, str | None]] = set()

    def _shared_session(self) -> tuple[Any, SendGate]:
        loop = asyncio.get_running_loop()
        if (
            self._session is None
            or self._gate is None
            or self._session.closed
            or self._session_loop is not loop
        ):
            import aiohttp

            connector = _paced_connector()(
                limit=self._max_connections,
                limit_per_host=self._max_connections,
                keepalive_timeout=120,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
            self._gate = SendGate(self._max_preparing)
            self._session_loop = loop
        return self._session, self._gate

    def send_statistics(self) -> SendGateStatistics | None:
        """The send gate's counters, for the latest session (None before the first real call)."""
        return self._gate.statistics() if self._gate is not None else None

    def _provider_known(self, model: str) -> bool:
        known = self._providers.get(model)
        if known is None:
            try:
                self._litellm.get_llm_provider(model)
                known = True
            except Exception:
                known = False
            self._providers[model] = known
        return known

    def build_kwargs(self, request: LLMRequest) -> dict[str, Any]:
        """The keyword arguments `complete()` passes to `litellm.acompletion`."""
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [_message_dict(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "timeout": request.timeout,
            "num_retries": 0,
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.api_base:
            kwargs["api_base"] = api_base_for(request.model, request.api_base)
        key = self._api_key(request)
        if key is not None:
            kwargs["api_key"] = key
        if request.tools:
            kwargs["tools"] = [_tool_dict(t) for t in request.tools]
        if request.response_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "output",
                    "schema": thaw(request.response_schema),
                    "strict": False,
                },
            }
        elif request.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if request.mock_response is not None:
            kwargs["mock_response"] = request.mock_response
        return kwargs

    def _api_key(self, request: LLMRequest) -> str | None:
        """The key to send when LiteLLM's own lookup is not the rule (see workflow-format.md)."""
        if request.api_key_env:
            return os.environ.get(request.api_key_env) or None  # checked before the run
        if request.api_base and request.mock_response is None:
            needs = self._needs_key.get(request.model)
            if needs is None:
                needs = self._needs_key[request.model] = bool(provider_keys_missing(request.model))
            if needs:
                # A local OpenAI-compatible server takes any key, but the SDK refuses none.
                return NO_KEY_PLACEHOLDER
        return None

    async def complete(self, request: LLMRequest) -> LLMResponse:
        kwargs = self.build_kwargs(request)
        if request.mock_response is not None:
            if not self._provider_known(request.model):
                # A mock answer needs no provider, but LiteLLM still refuses a model name it
                # cannot route (e.g. "my-local/model" priced under `pricing:`).
                kwargs["custom_llm_provider"] = "openai"
            return await self._acompletion(kwargs, request.model)
        session, gate = self._shared_session()
        kwargs["shared_session"] = session
        if self._direct_http:
            direct_route(kwargs)
        target = (request.model, request.api_base)
        try:
            async with gate.preparing(target):
                return await self._acompletion(kwargs, request.model, request.api_key_env)
        finally:
            delivery = current_delivery()
            if delivery is not None:
                if delivery.sent:
                    self._seen_sending.add(target)
                delivery.known = target in self._seen_sending

    async def _acompletion(
        self, kwargs: dict[str, Any], model: str, api_key_env: str | None = None
    ) -> LLMResponse:
        try:
            raw = await self._litellm.acompletion(**kwargs)
        except Exception as exc:  # every litellm/openai/httpx failure, translated once
            error = translate_error(exc)
            if kwargs["model"].startswith(_DIRECT_PROVIDER) and not model.startswith(
                _DIRECT_PROVIDER
            ):  # rerouted by `direct_route`
                error = _as_sdk_error(error)
            if isinstance(error, AuthenticationFailed):
                error = _with_key_hint(error, model, api_key_env)
            elif isinstance(error, ModelNotFound) and kwargs.get("api_base"):
                error = _with_gateway_hint(error, model, str(kwargs["api_base"]))
            raise error from None
        return _response(raw, model)

    async def warm_up(self, targets: Iterable[tuple[str, str | None]]) -> None:
        """Pay LiteLLM's one-time set-up per provider before the run starts.

        The first call of a provider loads its handler and HTTP client (over a second
        here); inside a run that delay would count against the call's timeout and bunch up
        requests the rate limiter had spread out. A mock call per (model, api_base) goes
        through the same path without the network. Failures are ignored: the real call
        will report them.
        """
        import openai.resources  # noqa: F401  # the SDK loads this lazily on the first call

        for model, api_base in targets:
            request = LLMRequest(
                model=model,
                messages=(Message("user", "warm up"),),
                max_tokens=1,
                timeout=30.0,
                api_base=api_base,
                mock_response="ok",
            )
            try:
                await self.complete(request)
                kwargs = self.build_kwargs(request)
                if self._direct_http and api_base:
                    direct_route(kwargs)
                    if kwargs["model"] != model:  # the provider the real calls will use
                        await self._acompletion(kwargs, model)
            except LLMError:
                continue

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


# --------------------------------------------------------------------------- routing

# LiteLLM's `hosted_vllm` provider: an OpenAI-compatible server at an api_base, called through
# LiteLLM's own HTTP handler (one request transform, one JSON parse) instead of the OpenAI
# SDK (which re-validates the params, wraps httpx over aiohttp and parses into pydantic):
# about a quarter less CPU per call (docs/profiles.md). Same URL, body, headers and answer.
_DIRECT_PROVIDER = "hosted_vllm/"


def direct_route(kwargs: dict[str, Any]) -> None:
    """Send an `openai/...` call at a user-given `api_base` through LiteLLM's HTTP handler.

    Only calls without tools: that provider rewrites tool schemas (it drops
    `additionalProperties: false` and every key named `strict`, a parameter of that name
    included), so those keep the OpenAI SDK route. The key LiteLLM would have read for an
    `openai/` model (`OPENAI_API_KEY`) is passed on explicitly, since the other provider
    reads its own variable.
    """
    model = kwargs["model"]
    if not model.startswith("openai/") or not kwargs.get("api_base") or kwargs.get("tools"):
        return
    if not _priced_alike(model):
        return
    kwargs["model"] = _DIRECT_PROVIDER + model.removeprefix("openai/")
    if kwargs.get("api_key") is None:
        litellm = _import_litellm()
        key = litellm.api_key or litellm.openai_key or os.environ.get("OPENAI_API_KEY")
        if key:
            kwargs["api_key"] = key


_PRICED_ALIKE: dict[str, bool] = {}


def _priced_alike(model: str) -> bool:
    """Whether the cost LiteLLM attaches is the same on both routes as far as it is read.

    On the other route LiteLLM does not find the model in its price list, so it attaches no
    cost. The engine prices answers from the same list (`agentflow.plan.pricing`) and reads
    LiteLLM's cost only for a model it has no price for: that is the same whenever LiteLLM's
    entry has per-token prices (the engine's own) or there is no entry (no cost either way).
    A model whose entry prices it some other way keeps the SDK route.
    """
    alike = _PRICED_ALIKE.get(model)
    if alike is None:
        prices = _import_litellm().model_cost
        entries = [prices.get(name) for name in (model, model.removeprefix("openai/"))]
        alike = all(
            entry is None
            or (
                isinstance(entry, dict)
                and entry.get("input_cost_per_token") is not None
                and entry.get("output_cost_per_token") is not None
            )
            for entry in entries
        )
        _PRICED_ALIKE[model] = alike
    return alike


_DIRECT_LABEL = "Hosted_vllmException - "
_SDK_LABEL = "OpenAIException - "
_JSON = json.JSONDecoder()


def _as_sdk_error(error: LLMError) -> LLMError:
    """`error` worded as the OpenAI SDK route words it: LiteLLM names the provider in the
    message and, where the SDK reads the server's `error.message`, quotes the whole body."""
    text = str(error)
    at = text.find(_DIRECT_LABEL)
    if at < 0:
        return error
    rest = text[at + len(_DIRECT_LABEL) :]
    try:
        body, end = _JSON.raw_decode(rest)
    except ValueError:
        body, end = None, 0
    detail = body.get("error") if isinstance(body, dict) else None
    message = detail.get("message") if isinstance(detail, dict) else None
    if isinstance(message, str):
        rest = message + rest[end:]
    return type(error)(
        text[:at] + _SDK_LABEL + rest,
        status_code=error.status_code,
        retry_after=error.retry_after,
        rate_limits=error.rate_limits,
    )


# --------------------------------------------------------------------------- conversion


def _message_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def _tool_dict(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": thaw(tool.parameters),
        },
    }


def _response(raw: Any, model: str) -> LLMResponse:
    """The `LLMResponse` of a LiteLLM answer; an answer without a message is a server error."""
    choices = getattr(raw, "choices", None) or ()
    choice = choices[0] if choices else None
    message = getattr(choice, "message", None)
    if choice is None or message is None:
        what = "no choices" if choice is None else "a choice without a message"
        # The call was made and may be billed; a provider glitch like this one is
        # retryable, like any other server error.
        raise ServerError(f"the provider answered with {what} (an empty completion)")
    calls = tuple(
        ToolCall(
            id=call.id or f"call_{index}",
            name=call.function.name or "",
            arguments=call.function.arguments or "{}",
        )
        for index, call in enumerate(getattr(message, "tool_calls", None) or ())
    )
    usage = getattr(raw, "usage", None)
    headers = _answer_headers(raw)
    hints = read_hints(headers)
    return LLMResponse(
        content=message.content,
        tool_calls=calls,
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        model=raw.model or model,
        finish_reason=choice.finish_reason,
        provider_cost_usd=_provider_cost(raw, headers),
        rate_limits=None if hints.empty else hints,
    )


def _answer_headers(raw: Any) -> dict[str, str]:
    """The response headers LiteLLM kept on an answer (names lower-cased)."""
    out: dict[str, str] = {}
    hidden = getattr(raw, "_hidden_params", None)
    sources = (
        getattr(raw, "_response_headers", None),
        hidden.get("additional_headers") if isinstance(hidden, dict) else None,
    )
    for source in sources:
        if isinstance(source, dict) or hasattr(source, "items"):
            out.update((str(k).lower(), str(v)) for k, v in source.items())  # type: ignore[union-attr]
    return out


def _provider_cost(raw: Any, headers: dict[str, str]) -> float | None:
    """The cost a gateway reported for the call (the LiteLLM proxy's
    `x-litellm-response-cost`), else the cost LiteLLM itself attached; None if neither."""
    hidden = getattr(raw, "_hidden_params", None)
    candidates = (
        headers.get("x-litellm-response-cost"),
        headers.get("llm_provider-x-litellm-response-cost"),
        hidden.get("response_cost") if isinstance(hidden, dict) else None,
    )
    for value in candidates:
        try:
            cost = float(value) if value is not None else None
        except (TypeError, ValueError):
            continue
        if cost is not None and math.isfinite(cost) and cost >= 0:
            return cost
    return None


# --------------------------------------------------------------------------- errors

_SECRETS = (
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),
    re.compile(
        r"""((?:api[_-]?key|x-api-key|authorization|access[_-]?token)["']?\s*[:=]\s*["']?)"""
        r"""[^\s"',}]+""",
        re.IGNORECASE,
    ),
)
_MAX_MESSAGE = 2000


def scrub_secrets(text: str) -> str:
    """`text` without API keys, Bearer tokens or Authorization values, and not too long."""
    text = _SECRETS[0].sub("Bearer ***", text)
    text = _SECRETS[1].sub("sk-***", text)
    text = _SECRETS[2].sub(r"\1***", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


def _headers(exc: BaseException) -> dict[str, str]:
    """Response headers of a failed call: LiteLLM keeps them in one of three places."""
    out: dict[str, str] = {}
    sources = (
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    )
    for source in sources:
        try:
            out.update((str(k).lower(), str(v)) for k, v in source.items())  # type: ignore[union-attr]
        except (AttributeError, TypeError):
            continue
    return out


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _by_status(status: int | None, text: str) -> type[LLMError] | None:
    if status is None:
        return None
    if status == 429:
        return QuotaExceeded if "insufficient_quota" in text else RateLimited
    if status == 402:
        return QuotaExceeded
    if status == 408:
        return LLMTimeout
    if status in (401, 403):
        return AuthenticationFailed
    if status == 404:
        return ModelNotFound
    if status == 413:
        return ContextWindowExceeded
    if 400 <= status < 500:
        return BadRequest
    if status >= 500:
        return ServerError
    return None


# LiteLLM exception classes by name (looked up with getattr: older releases lack some),
# most specific first, since several subclass BadRequestError.
_LITELLM_CLASSES: tuple[tuple[str, type[LLMError]], ...] = (
    ("ContextWindowExceededError", ContextWindowExceeded),
    ("ContentPolicyViolationError", ContentPolicyViolation),
    ("RejectedRequestError", ContentPolicyViolation),
    ("GuardrailRaisedException", ContentPolicyViolation),
    ("BlockedPiiEntityError", ContentPolicyViolation),
    ("PaymentRequiredError", QuotaExceeded),
    ("BudgetExceededError", QuotaExceeded),
    ("AuthenticationError", AuthenticationFailed),
    ("PermissionDeniedError", AuthenticationFailed),
    ("NotFoundError", ModelNotFound),
    ("UnprocessableEntityError", BadRequest),
    ("BadRequestError", BadRequest),
    ("Timeout", LLMTimeout),
    ("ServiceUnavailableError", ServerError),
    ("BadGatewayError", ServerError),
    ("InternalServerError", ServerError),
    ("APIResponseValidationError", ServerError),
    ("APIConnectionError", LLMConnectionError),
)


_MISSING_KEY_PHRASES = ("missing credentials", "api_key client option must be set", "no api key")
# How gateways and local servers say "no such model" with a 400 (the LiteLLM proxy:
# "Invalid model name passed in model=..."): not a bad request a retry or edit could fix.
_UNKNOWN_MODEL_PHRASES = ("invalid model name", "model_not_found", "no such model")
# A LiteLLM proxy without a database answers a key other than its master key with a 400
# "No connected db." (it cannot look virtual keys up): the key is refused.
_GATEWAY_KEY_REFUSED = "no_db_connection"


def _classify(exc: BaseException, status: int | None, text: str) -> type[LLMError]:
    lower = text.lower()
    if any(phrase in lower for phrase in _MISSING_KEY_PHRASES) or _GATEWAY_KEY_REFUSED in lower:
        # LiteLLM reports a key missing from the environment as a 500; no retry can fix it.
        return AuthenticationFailed
    if _litellm is not None:
        ex = _litellm.exceptions
        if isinstance(exc, ex.RateLimitError):
            quota = "insufficient_quota" in lower or getattr(exc, "rate_limit_type", "") == "budget"
            return QuotaExceeded if quota else RateLimited
        for name, target in _LITELLM_CLASSES:
            source = getattr(ex, name, None)
            if source is not None and isinstance(exc, source):
                if target is BadRequest and any(p in lower for p in _UNKNOWN_MODEL_PHRASES):
                    return ModelNotFound
                return target
    import httpx
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return LLMTimeout
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return LLMConnectionError
    found = _by_status(status, lower)
    if found is BadRequest and any(phrase in lower for phrase in _UNKNOWN_MODEL_PHRASES):
        return ModelNotFound
    if found is not None:
        return found
    if "overloaded" in lower:
        return ServerError
    if "context length" in lower or "context window" in lower or "maximum context" in lower:
        return ContextWindowExceeded
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiohttp comes with litellm
        return LLMError
    if isinstance(exc, aiohttp.ClientConnectionError):
        return LLMConnectionError
    return LLMError


def _transport_cause(exc: BaseException) -> type[LLMError] | None:
    import httpx
    import openai

    cause = exc.__cause__ or exc.__context__
    for _ in range(12):
        if cause is None:
            return None
        if isinstance(cause, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
            return LLMTimeout
        if isinstance(cause, openai.APIConnectionError | httpx.TransportError | ConnectionError):
            return LLMConnectionError
        cause = cause.__cause__ or cause.__context__
    return None


NO_KEY_PLACEHOLDER = "agentflow-no-key"
"""Sent as the key to an `api_base` when neither `api_key_env` nor a provider key is set."""


def api_base_for(model: str, api_base: str) -> str:
    """`api_base` as LiteLLM wants it: for anthropic/ models without the trailing `/v1`.

    LiteLLM appends `/v1/messages` to an Anthropic base URL, so `http://host/v1` would
    become `/v1/v1/messages`; both spellings are accepted.
    """
    if model.startswith("anthropic/"):
        base = api_base.rstrip("/")
        return base.removesuffix("/v1") if base.endswith("/v1") else base
    return api_base


def provider_keys_missing(model: str) -> list[str]:
    """The provider key variables `model` needs that are not set (not other settings)."""
    return [k for k in missing_keys(model) if "KEY" in k or "TOKEN" in k]


def key_variables(model: str) -> list[str]:
    """The environment variables that hold `model`'s API key, as LiteLLM knows them.

    Missing ones are what LiteLLM reports; a key that is set but refused is named by
    LiteLLM's convention for the provider (`OPENAI_API_KEY` for openai/..., and so on).
    """
    missing = [k for k in missing_keys(model) if "KEY" in k or "TOKEN" in k]
    if missing:
        return missing
    try:
        provider = str(_import_litellm().get_llm_provider(model)[1])
    except Exception:  # a model LiteLLM cannot route: nothing to name
        return []
    return [f"{provider.upper().replace('-', '_')}_API_KEY"] if provider else []


def _with_key_hint(
    error: AuthenticationFailed, model: str, api_key_env: str | None
) -> AuthenticationFailed:
    """`error` with the variable to check named: the agent's own, or the provider's."""
    names = [api_key_env] if api_key_env else key_variables(model)
    if not names:
        return error
    hint = f"; check {' or '.join(names)} (the API key used for {model})"
    return type(error)(
        f"{error}{hint}", status_code=error.status_code, retry_after=error.retry_after
    )


def _with_gateway_hint(error: ModelNotFound, model: str, api_base: str) -> ModelNotFound:
    """`error` naming the gateway (the agent's `api_base`) that does not know `model`."""
    sent = model.split("/", 1)[1] if "/" in model else model
    hint = (
        f"; the gateway at {api_base} has no model '{sent}' (from '{model}'): check the "
        "name against its model list (GET /v1/models) or its aliases"
    )
    return ModelNotFound(f"{error}{hint}", status_code=error.status_code)


def _never_connected(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says no connection was made: nothing was sent."""
    import httpx

    refused: tuple[type[BaseException], ...] = (httpx.ConnectError, ConnectionRefusedError)
    try:
        import aiohttp

        refused += (aiohttp.ClientConnectorError,)
    except ImportError:  # pragma: no cover - aiohttp comes with litellm
        pass
    cause: BaseException | None = exc
    for _ in range(12):
        if cause is None:
            return False
        if isinstance(cause, refused):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def missing_keys(model: str) -> list[str]:
    """Environment variables LiteLLM needs for `model` that are not set (e.g. OPENAI_API_KEY)."""
    litellm = _import_litellm()
    try:
        report = litellm.validate_environment(model=model)
    except Exception:  # an unknown provider: the call itself will say what is wrong
        return []
    missing = report.get("missing_keys") if isinstance(report, dict) else None
    return [str(k) for k in missing or ()]


def translate_error(exc: BaseException) -> LLMError:
    """The project's `LLMError` for any exception a LiteLLM call raised.

    Classes: see `_LITELLM_CLASSES`; an `APIError`/`MockException` or any other
    exception with an HTTP status is classified by that status (429 rate limit or
    insufficient quota, 408 timeout, 401/403 authentication, 404 not found, other 4xx
    bad request, 5xx server error). An exception that fits nothing becomes a plain,
    **not retryable** `LLMError`: it is most likely a bug or a misconfiguration, and
    retrying it would only spend budget and time. `retry_after` comes from the
    response's headers, in any form LiteLLM passes them on (`agentflow.llm.hints`); the
    message never carries keys.
    """
    if isinstance(exc, LLMError):
        return exc
    status = _status(exc)
    text = str(exc) or type(exc).__name__
    body = getattr(exc, "body", None)
    code = str(getattr(exc, "code", "") or "")
    kind = _classify(exc, status, f"{text} {code} {body}")
    if kind in (ServerError, LLMError):
        # LiteLLM reports a refused or dropped connection as a 500 InternalServerError;
        # the transport exception underneath says what really happened.
        kind = _transport_cause(exc) or kind
    if kind is LLMConnectionError and _never_connected(exc):
        kind = ConnectFailed
    hints = read_hints(_headers(exc))
    return kind(
        scrub_secrets(text),
        status_code=status,
        retry_after=hints.retry_after_s,
        rate_limits=None if hints.empty else hints,
    )

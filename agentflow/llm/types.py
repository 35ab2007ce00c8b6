"""Records that cross the LLM boundary, and the protocol every client implements."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agentflow.llm.hints import RateLimitHints
from agentflow.model.types import FrozenDict

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call requested by the model; `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in OpenAI form (LiteLLM translates it for other providers)."""

    role: Role
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function tool offered to the model."""

    name: str
    description: str
    parameters: FrozenDict


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One chat-completion call.

    `response_schema` asks for structured output (JSON matching the schema); `json_mode`
    asks for any JSON object. `mock_response` (a dict in LiteLLM's dict form) makes the
    call go through LiteLLM's mock path instead of the network. `api_key_env` names the
    variable holding the key, when the agent chose one (error messages name it).
    """

    model: str
    messages: tuple[Message, ...]
    max_tokens: int
    timeout: float
    temperature: float | None = None
    api_base: str | None = None
    api_key_env: str | None = None  # the variable's name; the key is read at call time
    tools: tuple[ToolSpec, ...] = ()
    response_schema: FrozenDict | None = None
    json_mode: bool = False
    mock_response: Any = None


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """What a call returned: the answer or tool calls, and the usage the provider reported.

    `provider_cost_usd` is the cost the provider or a gateway reported for this call (the
    LiteLLM proxy's `x-litellm-response-cost`), used when the price map has no price;
    `rate_limits` what the answer's headers said about the provider's limits.
    """

    content: str | None
    tool_calls: tuple[ToolCall, ...]
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str | None = None
    provider_cost_usd: float | None = None
    rate_limits: RateLimitHints | None = None


@dataclass(slots=True)
class Delivery:
    """Whether one request left for the provider, as far as its client can tell.

    The engine opens one around each call (`watch_delivery()`); a client that can see its
    requests go out calls `request_sent()` when one does, and sets `known` when it can
    vouch for the answer. Without `known`, a request counts as sent: a call that may
    have been billed is never left out.

        delivery, token = watch_delivery()
        try:
            await client.complete(request)
        finally:
            stop_watching(token)
        sent = delivery.sent or not delivery.known
    """

    sent: bool = False
    known: bool = False


_DELIVERY: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar(
    "agentflow_delivery", default=None
)


def watch_delivery() -> tuple[Delivery, contextvars.Token[Delivery | None]]:
    """A fresh `Delivery` for the call about to be made in this task."""
    delivery = Delivery()
    return delivery, _DELIVERY.set(delivery)


def stop_watching(token: contextvars.Token[Delivery | None]) -> None:
    _DELIVERY.reset(token)


def current_delivery() -> Delivery | None:
    """The `Delivery` of the call being made in this task, if the engine watches it."""
    return _DELIVERY.get()


def request_sent() -> None:
    """Called by a client when the current request goes out to the provider."""
    delivery = _DELIVERY.get()
    if delivery is not None:
        delivery.sent = True


class LLMClient(Protocol):
    """Anything that can complete a chat request. Raises `agentflow.errors.LLMError`."""

    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def aclose(self) -> None: ...

"""The identity of a model request: what makes two calls the same call.

A fingerprint is the SHA-256 of a canonical JSON form of everything that can change the
answer: the model, the endpoint, the messages (with their tool calls and results), the
tools offered, the response format and every sampling parameter. The timeout is left out
(it changes when we give up, not what the model says). Dict order never matters, so the
fingerprint is stable across processes, Python versions and machines.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agentflow.llm.types import LLMRequest, Message
from agentflow.model.types import thaw

# Bump when the canonical form changes, so old journal entries stop matching new requests.
FINGERPRINT_VERSION = 1


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [[c.id, c.name, c.arguments] for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def canonical_request(request: LLMRequest, *, mock: bool = False) -> dict[str, Any]:
    """The parts of `request` that decide its answer, as plain JSON data.

    `mock` marks a request answered by `--mock`: its answers must never stand in for a
    provider's (the mock client sets `mock_response` only after the fingerprint is taken).
    """
    return {
        "v": FINGERPRINT_VERSION,
        "model": request.model,
        "api_base": request.api_base,
        "messages": [_message(m) for m in request.messages],
        "tools": [[t.name, t.description, thaw(t.parameters)] for t in request.tools],
        "response_schema": thaw(request.response_schema),
        "json_mode": request.json_mode,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "mock": mock or request.mock_response is not None,
    }


def fingerprint(request: LLMRequest, *, mock: bool = False) -> str:
    """Hex SHA-256 of the request's canonical form (64 characters)."""
    text = json.dumps(
        canonical_request(request, mock=mock),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

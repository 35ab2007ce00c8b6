"""Turning a model's final answer into an agent's output."""

from __future__ import annotations

import json
import re
from typing import Any

from agentflow.errors import OutputInvalid
from agentflow.model.types import OutputSpec
from agentflow.schema.instance import instance_errors

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(?P<body>.*?)\n\s*```\s*$", re.DOTALL)


def json_instruction(spec: OutputSpec) -> str | None:
    """The system-prompt line that asks for JSON (None for text output)."""
    if spec.format != "json":
        return None
    if spec.schema is None:
        return "Answer with one JSON value only, no prose."
    schema = json.dumps(spec.schema, default=dict, separators=(",", ":"))
    return f"Answer with one JSON value only, no prose, matching this JSON Schema: {schema}"


def repair_request(spec: OutputSpec, error: OutputInvalid) -> str:
    """The user message that asks again for an answer that could not be used."""
    shape = " matching the JSON Schema given" if spec.schema is not None else ""
    return (
        f"Your answer could not be used: {error}. Answer again with one JSON value only, "
        f"no prose{shape}."
    )


def parse_output(spec: OutputSpec, content: str | None) -> Any:
    """The agent's output: text as is, or parsed and schema-checked JSON.

    Raises `OutputInvalid` when JSON does not parse or does not match the schema.
    """
    text = content or ""
    if spec.format == "text":
        return text
    fenced = _FENCE.match(text)
    body = fenced.group("body") if fenced else text
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        snippet = body.strip()[:120].replace("\n", " ")
        raise OutputInvalid(
            f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            f"{snippet!r}"
        ) from None
    if spec.schema is not None:
        problems = instance_errors(spec.schema, value)
        if problems:
            raise OutputInvalid(
                "the answer does not match the output schema: " + "; ".join(problems)
            )
    return value

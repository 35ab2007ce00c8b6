"""Whatever the input, loading and schema checking either succeed or raise WorkflowInvalid."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow.errors import Diagnostic, WorkflowInvalid
from agentflow.loading import load_text
from agentflow.schema.workflow import validate_document

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of YAML syntax, so random text often gets past the first character.
_TOKENS = [
    "version: 1\n",
    "name: x\n",
    "agents:\n",
    "  a:\n",
    "    prompt: p\n",
    "    retry:\n",
    "- ",
    ": ",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!int ",
    "!x ",
    "|\n",
    ">\n",
    "'",
    '"',
    "#",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "\t",
    "  ",
    "\n",
    "<<: ",
    "~",
    "null",
    "true",
    "0x1F",
    ".inf",
    "1e3",
    "é",
    "\\",
    "{{ x }}",
    "@",
    "`",
]


def _check(result: list[Diagnostic]) -> None:
    for diag in result:
        assert isinstance(diag, Diagnostic)
        assert diag.line >= 1
        assert diag.column >= 1
        assert diag.message
        assert "\n" not in diag.message


def _run(source: str | bytes) -> None:
    try:
        doc = load_text(source, "fuzz.yaml")
    except WorkflowInvalid as exc:
        assert exc.diagnostics
        _check(exc.diagnostics)
        return
    _check(validate_document(doc))


@FUZZ
@given(st.text(max_size=300))
def test_random_text_never_raises_anything_else(text: str) -> None:
    _run(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    _run(data)


@FUZZ
@given(st.lists(st.sampled_from(_TOKENS) | st.text(max_size=5), max_size=40))
def test_yaml_like_token_soup_never_raises_anything_else(tokens: list[str]) -> None:
    _run("".join(tokens))


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_keys = st.sampled_from(
    ["version", "name", "agents", "prompt", "model", "retry", "backoff", "timeout", "tools",
     "needs", "limits", "budget", "max_usd", "python", "command", "screen", "x", "Bad Key"]
)  # fmt: skip
_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)


def _to_yaml(value: Any, indent: int = 0) -> str:
    """A small YAML emitter (flow style) so that the structures also go through the parser."""
    if isinstance(value, dict):
        items = ", ".join(f"{_to_yaml(k)}: {_to_yaml(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_to_yaml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"version": _scalars, "name": _scalars},
        optional={
            "agents": st.dictionaries(st.sampled_from(["screen", "Bad", "a1", "x"]), _values),
            "tools": _values,
            "limits": _values,
            "budget": _values,
            "defaults": _values,
        },
    )
)
def test_random_workflow_shaped_documents_get_located_diagnostics(data: dict[str, Any]) -> None:
    _run(_to_yaml(data))

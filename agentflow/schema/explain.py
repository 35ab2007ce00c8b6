"""Explain why a workflow file breaks its schema: jsonschema's errors as readable diagnostics.

Every schema error becomes one `Diagnostic` located by the document's source map: unknown keys
and bad names point at the key, wrong values at the value. Messages are written here, not taken
from jsonschema, and say what would be right:

    unknown key 'promt' in agent 'screen'; did you mean 'prompt'?
    backoff must be one of exponential, linear, constant; got 'exponental'; did you mean 'exponential'?
    max_tokens must be an integer, got string '600'
    agent 'screen' has no 'prompt'
    timeout must be a number of seconds or a string like '500ms', '90s', '2m', '1h'; got '5 minutes'
    timeout must be greater than 0, got '0s' (a timeout of 0 would fail every call before it starts)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from agentflow.errors import Diagnostic
from agentflow.loading.document import Document
from agentflow.model.durations import duration_seconds
from agentflow.model.types import KeyPath, format_path
from agentflow.schema.embedded import DRAFT_2020_12, diagnostic_at
from agentflow.schema.fastcheck import TYPE_TESTS
from agentflow.schema.resources import load_schema
from agentflow.schema.suggest import did_you_mean, suggest_key
from agentflow.schema.workflow import SCHEMA_NAME

_DURATION_HINT = "a number of seconds or a string like '500ms', '90s', '2m', '1h'"

# Why a zero duration is refused, by key, for the message that refuses it.
_ZERO_HINTS = {
    "timeout": " (a timeout of 0 would fail every call before it starts)",
    "initial_delay": " (to retry almost at once, write '1ms')",
    "max_delay": " (it caps every delay between attempts; to retry almost at once, write '1ms')",
}

# What each name pattern of the schema allows, said for people.
_PATTERN_RULES = {
    "^[a-z][a-z0-9_-]*$": "lowercase letters, digits, '_' and '-', starting with a letter",
    "^[a-z][a-z0-9_]*$": "lowercase letters, digits and '_', starting with a letter",
    "^[a-z_][a-z0-9_]*$": "lowercase letters, digits and '_', not starting with a digit",
}

# The kind of name the keys of each named section are.
_ENTRY_KINDS = {
    "agents": "agent",
    "tools": "tool",
    "inputs": "input",
    "limits": "limit",
    "pricing": "pricing for",
    "outputs": "output",
}
_NAME_KINDS = {"agents": "agent id", "tools": "tool name", "inputs": "input name"}
_LISTED_NAME_KINDS = {"needs": "agent id", "tools": "tool name"}

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}

_MISSING_HINTS: dict[tuple[KeyPath, str], str] = {
    ((), "version"): "; add 'version: 1'",
    ((), "name"): "; add a name such as 'name: my_workflow'",
    ((), "agents"): "; add an 'agents:' mapping with at least one agent",
}


def explain_errors(doc: Document, data: Any) -> list[Diagnostic]:
    """Diagnostics for every schema error in `data` (the document, maybe pruned of entries
    already known to be valid), sorted by position."""
    found: dict[tuple[int, int, str, str], Diagnostic] = {}
    for error in _validator().iter_errors(data):
        for diagnostic in _explain(error, doc):
            key = (diagnostic.line, diagnostic.column, diagnostic.path, diagnostic.message)
            found.setdefault(key, diagnostic)
    return [found[key] for key in sorted(found)]


def explain_schema(
    doc: Document, path: KeyPath, schema: Any, draft: str = DRAFT_2020_12
) -> list[Diagnostic]:
    """Diagnostics for every way `schema`, a JSON Schema written in `doc` at `path`, breaks
    the metaschema of `draft` (a `$schema` URI jsonschema knows), sorted by position."""
    found: dict[tuple[int, int, str, str], Diagnostic] = {}
    for error in _metaschema_validator(draft.rstrip("#")).iter_errors(schema):
        error.path.extendleft(reversed(path))  # its children's paths extend this one
        for diagnostic in _explain(error, doc):
            key = (diagnostic.line, diagnostic.column, diagnostic.path, diagnostic.message)
            found.setdefault(key, diagnostic)
    return [found[key] for key in sorted(found)]


@cache
def _metaschema_validator(draft: str) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for({"$schema": draft}, default=Draft202012Validator)
    # As `check_schema` does: formats asserted, so `pattern: "[a-"` is an error.
    return cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)


@cache
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _pattern}
    )
    return cls(load_schema(SCHEMA_NAME))  # type: ignore[no-any-return]


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    # JSON Schema patterns are ECMA-262, where '$' is the very end; Python's '$' also
    # matches before a final newline, which would let "name\n" through.
    if isinstance(instance, str) and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


# -- turning one jsonschema error into diagnostics --------------------------------------------


def _explain(error: ValidationError, doc: Document) -> list[Diagnostic]:
    path: KeyPath = tuple(error.absolute_path)
    keyword: Any = error.validator
    instance: Any = error.instance
    value: Any = error.validator_value
    schema: Any = error.schema
    if "propertyNames" in error.relative_schema_path:
        return [_bad_name(doc, path, instance, error)]
    if keyword == "additionalProperties":
        return _unknown_keys(doc, path, instance, schema)
    if keyword == "required":
        if not isinstance(instance, dict):
            return []
        return [_missing(doc, path, name) for name in value if name not in instance]
    if keyword in ("anyOf", "oneOf"):
        return _alternatives(error, doc, path)
    field = _field(path)
    if keyword == "type":
        wanted = value if isinstance(value, list) else [value]
        words = " or ".join(_TYPE_WORDS.get(str(w), str(w)) for w in wanted)
        message = f"{field} must be {words}, got {_describe(instance)}"
        return [_at_value(doc, path, message, "type")]
    if keyword == "enum":
        choices = ", ".join(str(c) for c in value)
        message = f"{field} must be one of {choices}; got {_show(instance)}"
        if isinstance(instance, str):
            message += _suggestion(instance, [c for c in value if isinstance(c, str)])
        return [_at_value(doc, path, message, "enum")]
    if keyword == "const":
        message = f"{field} must be {_show(value)}, got {_show(instance)}"
        return [_at_value(doc, path, message, "enum")]
    if keyword == "pattern":
        return [_at_value(doc, path, _pattern_message(path, field, instance, value), "pattern")]
    if keyword in _BOUNDS:
        message = f"{field} must be {_BOUNDS[keyword]} {_show(value)}, got {_show(instance)}"
        return [_at_value(doc, path, message, "range")]
    if keyword == "minProperties":
        if path == ("agents",):
            message = "the workflow has no agents; define at least one under 'agents'"
        else:
            message = f"{field} must not be empty"
        return [_at_value(doc, path, message, "range")]
    if keyword in ("minItems", "minLength"):
        size = "item" if keyword == "minItems" else "character"
        message = (
            f"{field} must not be empty"
            if value == 1
            else f"{field} must have at least {value} {size}s"
        )
        return [_at_value(doc, path, message, "range")]
    if keyword == "format" and value == "regex" and isinstance(instance, str):
        message = f"{field} {_show(instance)} is not a valid regular expression"
        return [_at_value(doc, path, message, "pattern")]
    if keyword == "uniqueItems" and isinstance(instance, list):
        message = f"{field} lists {_show(_first_repeat(instance))} more than once"
        return [_at_value(doc, path, message, "range")]
    return [_at_value(doc, path, f"{field}: {error.message}", "invalid")]


_BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
}


def _unknown_keys(
    doc: Document, path: KeyPath, instance: Any, schema: Mapping[str, Any]
) -> list[Diagnostic]:
    if not isinstance(instance, dict):
        return []
    allowed = list(schema.get("properties", {}))
    owner = _owner(path)
    out = []
    for key in instance:
        if key in allowed:
            continue
        guess = suggest_key(str(key), allowed)
        hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(allowed)}"
        message = f"unknown key '{key}' in {owner}; {hint}"
        out.append(_at_key(doc, (*path, key), message, "unknown_key"))
    return out


def _missing(doc: Document, path: KeyPath, name: str) -> Diagnostic:
    message = f"{_owner(path)} has no '{name}'" + _MISSING_HINTS.get((path, name), "")
    position = doc.source.key(path) if path else doc.source.value(())
    return diagnostic_at(position, (*path, name), message, "missing_key")


def _bad_name(doc: Document, path: KeyPath, name: Any, error: ValidationError) -> Diagnostic:
    kind = _NAME_KINDS.get(str(path[-1]) if path else "", "name")
    if error.validator == "pattern" and isinstance(name, str):
        pattern = str(error.validator_value)
        rule = _PATTERN_RULES.get(pattern, f"the form {pattern}")
        message = f"{kind} '{name}' is not allowed: use {rule}"
        fixed = _slug(name, allow_dash="_-]" in pattern)
        if fixed and fixed != name and _regex(pattern).search(fixed):
            message += f" (e.g. '{fixed}')"
    else:
        message = f"{kind} '{name}' is not allowed here: names must not be empty"
    return _at_key(doc, (*path, str(name)), message, "name")


def _alternatives(error: ValidationError, doc: Document, path: KeyPath) -> list[Diagnostic]:
    schema: Any = error.schema if isinstance(error.schema, Mapping) else {}
    instance: Any = error.instance
    field = _field(path)
    if schema.get("title") == "Duration":
        return [_at_value(doc, path, _duration_message(path, field, instance), "duration")]
    branches: Any = error.validator_value
    choices = _exclusive_keys(branches)
    if choices is not None:
        if not isinstance(instance, dict):
            return []  # the type error says it better
        present = [c for c in choices if c in instance]
        owner = _owner(path)
        if len(present) > 1:
            quoted = " and ".join(f"'{c}'" for c in present)
            message = f"{owner} has both {quoted}; give exactly one"
            return [_at_key(doc, (*path, present[1]), message, "exclusive")]
        quoted = " or ".join(f"'{c}'" for c in choices)
        message = f"{owner} needs {quoted}"
        return [diagnostic_at(doc.source.key(path), path, message, "missing_key")]
    best = _closest(error)
    if best is None:
        return [_at_value(doc, path, f"{field} is not valid: {error.message}", "invalid")]
    return _explain(best, doc)


def _closest(error: ValidationError) -> ValidationError | None:
    """Of the errors of an anyOf/oneOf, the one from the branch meant for this kind of value:
    a branch whose type fits the value, else one that cannot tell (a bare `$ref`)."""
    if not error.context:
        return None
    branches: Any = error.validator_value
    by_fit: dict[bool | None, list[ValidationError]] = {True: [], None: [], False: []}
    for sub in error.context:
        if sub.relative_schema_path and isinstance(sub.relative_schema_path[0], int):
            by_fit[_fits(branches[sub.relative_schema_path[0]], error.instance)].append(sub)
    best: ValidationError | None = best_match(by_fit[True] or by_fit[None] or error.context)
    return best


def _fits(branch: Any, instance: Any) -> bool | None:
    """Whether `branch` is meant for values of `instance`'s kind; None when it cannot tell."""
    if not isinstance(branch, Mapping):
        return None
    if "type" in branch:
        names = branch["type"] if isinstance(branch["type"], list) else [branch["type"]]
        return any(TYPE_TESTS[str(n)](instance) for n in names if str(n) in TYPE_TESTS)
    if "enum" in branch:
        return any(type(choice) is type(instance) for choice in branch["enum"])
    return None


def _duration_message(path: KeyPath, field: str, instance: Any) -> str:
    seconds = duration_seconds(instance)
    if seconds is not None and not seconds > 0:  # zero in any spelling, negative, .nan
        key = str(path[-1]) if path else ""
        return f"{field} must be greater than 0, got {_show(instance)}{_ZERO_HINTS.get(key, '')}"
    return f"{field} must be {_DURATION_HINT}; got {_show(instance)}"


def _exclusive_keys(branches: Any) -> list[str] | None:
    """The key names of a `oneOf: [{required: [a]}, {required: [b]}]` rule, else None."""
    if not isinstance(branches, list):
        return None
    names = []
    for branch in branches:
        if not (isinstance(branch, dict) and set(branch) == {"required"}):
            return None
        required = branch["required"]
        if not (isinstance(required, list) and len(required) == 1):
            return None
        names.append(str(required[0]))
    return names


def _pattern_message(path: KeyPath, field: str, instance: Any, pattern: str) -> str:
    rule = _PATTERN_RULES.get(pattern)
    if rule is not None:
        listed = len(path) >= 2 and isinstance(path[-1], int)
        kind = _LISTED_NAME_KINDS.get(str(path[-2])) if listed else None
        if kind:
            return f"{field} {_show(instance)} is not a valid {kind}: use {rule}"
        return f"{field} {_show(instance)} is not allowed: use {rule}"
    if path and path[-1] == "python":
        return f"python must look like 'package.module:function'; got {_show(instance)}"
    return f"{field} {_show(instance)} does not have the expected form ({pattern})"


# -- naming things in messages ----------------------------------------------------------------


def _owner(path: KeyPath) -> str:
    """How a message names the mapping at `path`: "agent 'screen'", "retry of defaults"."""
    if not path:
        return "the workflow"
    if len(path) == 2 and path[0] in _ENTRY_KINDS:
        return f"{_ENTRY_KINDS[str(path[0])]} '{path[1]}'"
    if len(path) > 2 and path[0] in _ENTRY_KINDS:
        return f"{format_path(path[2:])} of {_owner(path[:2])}"
    if len(path) > 1:
        return f"{format_path(path[1:])} of {path[0]}"
    return str(path[0])


def _field(path: KeyPath) -> str:
    """How a message names the value at `path`: "max_tokens", "needs[0]", "output 'x'"."""
    if not path:
        return "the workflow file"
    if len(path) == 2 and path[0] in _ENTRY_KINDS:
        return _owner(path)
    start = len(path) - 1
    while start > 0 and isinstance(path[start], int):
        start -= 1
    tail = path[start:]
    if isinstance(tail[0], int):
        return format_path(tail)
    return str(tail[0]) + format_path(tail[1:]) if len(tail) > 1 else str(tail[0])


def _describe(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"boolean {_show(value)}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {_show(value)}"
    if isinstance(value, str):
        return f"string {_show(value)}"
    return _show(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return "'" + text.replace("\n", "\\n") + "'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    return json.dumps(value)


def _suggestion(word: str, choices: list[str]) -> str:
    guess = did_you_mean(word, choices)
    return f"; did you mean '{guess}'?" if guess else ""


def _first_repeat(items: list[Any]) -> Any:
    seen: list[Any] = []
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


def _slug(name: str, *, allow_dash: bool) -> str:
    allowed = "a-z0-9_-" if allow_dash else "a-z0-9_"
    text = re.sub(f"[^{allowed}]+", "_", name.strip().lower()).strip("_")
    return text.lstrip("0123456789_-")


def _at_value(doc: Document, path: KeyPath, message: str, code: str) -> Diagnostic:
    return diagnostic_at(doc.source.value(path), path, message, code)


def _at_key(doc: Document, path: KeyPath, message: str, code: str) -> Diagnostic:
    return diagnostic_at(doc.source.key(path), path, message, code)

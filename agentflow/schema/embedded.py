"""Check the JSON Schemas written inside a workflow file: output schemas, tool parameters, inputs.

The workflow schema sees `agents.X.output.schema` and `tools.X.parameters` only as mappings,
so `{type: strin}`, `required: name` or `properties: [...]` would pass it and fail at run
time, after money was spent. Each embedded schema is checked here against its metaschema
(the draft its `$schema` names; JSON Schema 2020-12 when it names none, as at run time),
and every problem is one `Diagnostic` at the offending key inside it:

    type must be one of array, boolean, integer, null, number, object, string; got 'strin';
    did you mean 'string'? (agents.parse.output.schema.properties.name.type)

A metaschema cannot see two more mistakes that break a run, so they are checked too: a
`$ref` that resolves to nothing (run time resolves only references inside the same schema
and to the JSON Schema metaschemas), and a `$schema` naming a draft jsonschema does not know.
A misspelt keyword (`propertes`, `requried`) is legal JSON Schema that checks nothing: it is
a warning with "did you mean".

Like `schema.workflow`, a quick walk recognises the common, valid schema without jsonschema;
only a schema it is not sure of is handed to jsonschema (in `schema.explain`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from agentflow.errors import Diagnostic, Severity
from agentflow.loading.document import Document
from agentflow.model.types import KeyPath, Position, SourceMap, format_path
from agentflow.schema.suggest import did_you_mean

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# The drafts jsonschema knows, by the `$schema` URI that names them (without a final '#').
KNOWN_DRAFTS = frozenset(
    {
        "http://json-schema.org/draft-03/schema",
        "http://json-schema.org/draft-04/schema",
        "http://json-schema.org/draft-06/schema",
        "http://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft/2019-09/schema",
        DRAFT_2020_12,
    }
)

# Keywords whose value is one schema, a mapping of names to schemas, or a list of schemas.
_ONE_SCHEMA = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
        "additionalItems",
    }
)
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_NAMED_SCHEMAS_OR_LISTS = frozenset({"dependentSchemas", "dependencies"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})

_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_count(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_type(v: Any) -> bool:
    if isinstance(v, str):
        return v in _TYPES
    return (
        isinstance(v, list)
        and bool(v)
        and all(isinstance(t, str) and t in _TYPES for t in v)
        and len(set(v)) == len(v)
    )


def _is_names(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(n, str) for n in v) and len(set(v)) == len(v)


def _is_regex(v: Any) -> bool:
    return isinstance(v, str) and _compiles(v)


def _is_schema(v: Any) -> bool:
    return isinstance(v, dict | bool)


# What the metaschema allows for each keyword, where it is simple to say exactly; a keyword
# not listed is either unknown (allowed anywhere) or in _UNSURE (left to jsonschema).
_VALUE_RULES: dict[str, Callable[[Any], bool]] = {
    "type": _is_type,
    "enum": lambda v: isinstance(v, list),
    "const": lambda v: True,
    "default": lambda v: True,
    "examples": lambda v: isinstance(v, list),
    "required": _is_names,
    "dependentRequired": lambda v: isinstance(v, dict) and all(map(_is_names, v.values())),
    "multipleOf": lambda v: _is_number(v) and v > 0,
    "pattern": _is_regex,
    "uniqueItems": lambda v: isinstance(v, bool),
    "deprecated": lambda v: isinstance(v, bool),
    "readOnly": lambda v: isinstance(v, bool),
    "writeOnly": lambda v: isinstance(v, bool),
    "$ref": _is_str,
    "$comment": _is_str,
    "title": _is_str,
    "description": _is_str,
    "format": _is_str,
    "contentEncoding": _is_str,
    "contentMediaType": _is_str,
    **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"), _is_number),
    **dict.fromkeys(
        (
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "minContains",
            "maxContains",
        ),
        _is_count,
    ),
    **dict.fromkeys(_ONE_SCHEMA - {"additionalItems"}, _is_schema),
    **dict.fromkeys(
        ("properties", "$defs", "dependentSchemas"),
        lambda v: isinstance(v, dict) and all(map(_is_schema, v.values())),
    ),
    "patternProperties": lambda v: (
        isinstance(v, dict) and all(map(_is_schema, v.values())) and all(map(_is_regex, v))
    ),
    **dict.fromkeys(
        ("allOf", "anyOf", "oneOf", "prefixItems"),
        lambda v: isinstance(v, list) and bool(v) and all(map(_is_schema, v)),
    ),
}

# Known keywords whose rules differ between drafts or are not simple: jsonschema decides.
_UNSURE = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$recursiveRef",
        "$recursiveAnchor",
        "definitions",
        "dependencies",
        "additionalItems",
    }
)

KEYWORDS = frozenset(_VALUE_RULES) | _UNSURE
"""Every JSON Schema keyword of the drafts agentflow reads (2020-12 and the older names)."""


@dataclass(frozen=True, slots=True)
class EmbeddedSchema:
    """A JSON Schema written in a workflow file, and where."""

    path: KeyPath
    schema: dict[str, Any]
    # An input's own keys are checked by the workflow schema already (closed, with messages
    # of its own); only what is nested inside them is left to check here.
    top_checked: bool = False


def embedded_schemas(data: Any) -> Iterator[EmbeddedSchema]:
    """Each JSON Schema written in the workflow document `data`, in file order by section."""
    if not isinstance(data, dict):
        return
    inputs = data.get("inputs")
    if isinstance(inputs, dict):
        for name, spec in inputs.items():
            if isinstance(spec, dict):
                yield EmbeddedSchema(("inputs", name), spec, top_checked=True)
    tools = data.get("tools")
    if isinstance(tools, dict):
        for name, spec in tools.items():
            if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
                yield EmbeddedSchema(("tools", name, "parameters"), spec["parameters"])
    agents = data.get("agents")
    if isinstance(agents, dict):
        for agent_id, agent in agents.items():
            output = agent.get("output") if isinstance(agent, dict) else None
            if isinstance(output, dict) and isinstance(output.get("schema"), dict):
                yield EmbeddedSchema(("agents", agent_id, "output", "schema"), output["schema"])


def check_embedded_schemas(doc: Document) -> list[Diagnostic]:
    """Diagnostics for every embedded JSON Schema of `doc` that is not valid (see module)."""
    out: list[Diagnostic] = []
    for embedded in embedded_schemas(doc.data):
        out.extend(check_schema(doc, embedded))
    return out


def check_schema(doc: Document, embedded: EmbeddedSchema) -> list[Diagnostic]:
    """Diagnostics for one embedded schema: metaschema errors, dangling `$ref`s, an unknown
    `$schema`, and (as warnings) misspelt keywords."""
    scan = _Scan(doc, embedded)
    scan.walk(embedded.path, embedded.schema, top=True)
    scan.check_refs()
    found = scan.diagnostics
    if not scan.surely_valid and scan.draft is not None:
        from agentflow.schema.explain import explain_schema

        depth = len(embedded.path) + 1
        for diagnostic in explain_schema(doc, embedded.path, embedded.schema, scan.draft):
            if embedded.top_checked and diagnostic.path.count(".") + 1 <= depth:
                continue  # the workflow schema reports the input's own keys
            found.append(diagnostic)
    return found


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """One line saying why `schema` is not a valid JSON Schema, or None when it is.

    For run time, where there is no file to point into: the key path is relative to the
    schema itself ("properties.name.type: type must be one of ...").
    """
    doc = Document(Path("schema"), schema, SourceMap("schema"))
    problems = [
        d for d in check_schema(doc, EmbeddedSchema((), dict(schema))) if d.severity == "error"
    ]
    if not problems:
        return None
    first = problems[0]
    return f"{first.path}: {first.message}" if first.path else first.message


# -- the walk -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Scan:
    doc: Document
    embedded: EmbeddedSchema
    diagnostics: list[Diagnostic] = field(default_factory=list)
    surely_valid: bool = True
    draft: str | None = DRAFT_2020_12
    refs: list[tuple[KeyPath, str]] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)
    has_id: bool = False

    def walk(self, path: KeyPath, schema: Any, *, top: bool = False) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            self.surely_valid = False  # jsonschema says what it should be
            return
        for key, value in schema.items():
            rule = _VALUE_RULES.get(key)
            if rule is not None:
                if not rule(value):
                    self.surely_valid = False
            elif key in _UNSURE:
                self.surely_valid = False
            elif not (top and self.embedded.top_checked):
                self._unknown_keyword(path, key)
            if key == "$ref" and isinstance(value, str):
                self.refs.append(((*path, key), value))
            elif key == "$anchor" and isinstance(value, str):
                self.anchors.add(value)
            elif key == "$id":
                self.has_id = True
            elif key == "$schema":
                self._draft(path, value, top=top)
            self._descend(path, key, value)

    def _descend(self, path: KeyPath, key: str, value: Any) -> None:
        if key in _ONE_SCHEMA:
            self.walk((*path, key), value)
        elif key in _NAMED_SCHEMAS and isinstance(value, dict):
            for name, sub in value.items():
                self.walk((*path, key, name), sub)
        elif key in _NAMED_SCHEMAS_OR_LISTS and isinstance(value, dict):
            for name, sub in value.items():
                if not isinstance(sub, list):
                    self.walk((*path, key, name), sub)
        elif (key in _SCHEMA_LISTS and isinstance(value, list)) or (
            key == "items" and isinstance(value, list)
        ):
            for index, sub in enumerate(value):
                self.walk((*path, key, index), sub)

    def _draft(self, path: KeyPath, value: Any, *, top: bool) -> None:
        if not top or not isinstance(value, str):
            return
        if value.rstrip("#") in KNOWN_DRAFTS:
            self.draft = value
            return
        self.draft = None
        self.diagnostics.append(
            _at(
                self.doc,
                (*path, "$schema"),
                f"$schema '{value}' is not a JSON Schema draft agentflow knows; "
                f"use {DRAFT_2020_12} (the default) or leave it out",
                "schema_draft",
            )
        )

    def _unknown_keyword(self, path: KeyPath, key: str) -> None:
        if key.startswith(("x-", "$")):
            return
        guess = did_you_mean(key, sorted(KEYWORDS), cutoff=0.75)
        if guess is None:
            return
        self.diagnostics.append(
            _at(
                self.doc,
                (*path, key),
                f"unknown JSON Schema keyword '{key}'; did you mean '{guess}'? "
                "(an unknown keyword checks nothing)",
                "schema_keyword",
                severity="warning",
                key=True,
            )
        )

    def check_refs(self) -> None:
        if self.has_id:
            return  # a schema with its own $id may resolve references against it
        for path, ref in self.refs:
            problem = _ref_problem(ref, self.embedded.schema, self.anchors)
            if problem is not None:
                self.diagnostics.append(_at(self.doc, path, problem, "schema_ref"))


def _ref_problem(ref: str, root: Any, anchors: set[str]) -> str | None:
    if not ref.startswith("#"):
        if ref.rstrip("#") in KNOWN_DRAFTS:
            return None
        return (
            f"$ref '{ref}' cannot be resolved: only references inside the same schema "
            "(such as '#/$defs/address') are followed"
        )
    fragment = unquote(ref[1:])
    if not fragment:
        return None
    if not fragment.startswith("/"):
        if fragment in anchors:
            return None
        return f"$ref '{ref}' names no $anchor '{fragment}' in this schema"
    node = root
    walked = "#"
    for raw in fragment[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            names = [str(k) for k in node] if isinstance(node, dict) else []
            guess = did_you_mean(part, names)
            hint = f"; did you mean '{walked}/{guess}'?" if guess else ""
            return f"$ref '{ref}' points at nothing: '{walked}' has no '{part}'{hint}"
        walked += "/" + raw
    return None


@cache
def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def _at(
    doc: Document,
    path: KeyPath,
    message: str,
    code: str,
    *,
    severity: Severity = "error",
    key: bool = False,
) -> Diagnostic:
    position = doc.source.key(path) if key else doc.source.value(path)
    return diagnostic_at(position, path, message, code, severity)


def diagnostic_at(
    position: Position, path: KeyPath, message: str, code: str, severity: Severity = "error"
) -> Diagnostic:
    """A diagnostic at `position` for the key path `path` (the schema checks' one shape)."""
    return Diagnostic(
        file=position.file,
        line=position.line,
        column=position.column,
        path=format_path(path),
        message=message,
        severity=severity,
        code=code,
    )

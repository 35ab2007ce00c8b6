"""A fast yes/no check of a document against a JSON Schema, for the common case: valid.

jsonschema spends most of its time creating evolved validators and resolving references; on a
10,000-agent workflow that is seconds. `compile_check(schema)` turns the schema into plain
closures once. A closure answers True only when it is sure the value is valid; for anything
it does not handle exactly (an unknown keyword, a uniqueness test on mixed values) it answers
False, and the caller lets jsonschema find and explain the errors. So a False here costs time,
never correctness.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never affect validity.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"}
)


class Unsupported(Exception):
    """Raised at compile time for a schema this module cannot check exactly."""


def compile_check(schema: Any, root: Mapping[str, Any] | None = None) -> Check:
    """A function telling whether a value certainly matches `schema` (`root` holds `$defs`).

    Raises Unsupported when the schema uses a keyword this module does not implement.
    """
    return _Compiler(root if root is not None else schema).compile(schema)


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


TYPE_TESTS: dict[str, Check] = {  # JSON Schema's types: true is not an integer, 2.0 is
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and math.isfinite(v) and v.is_integer())
    ),
}


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality for scalars: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return False  # containers: not handled here, so "not sure"


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    # ECMA-262 '$' is the very end; Python's also matches before a final newline.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, Mapping):
            raise Unsupported(f"not a schema: {schema!r}")
        checks = [self.keyword(name, value, schema) for name, value in schema.items()]
        checks = [c for c in checks if c is not _always]
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]

        def every(value: Any) -> bool:
            # a loop, not all(...) over a generator: it runs for every node of a big file
            for check in checks:  # noqa: SIM110
                if not check(value):
                    return False
            return True

        return every

    def ref(self, target: str) -> Check:
        if target not in self.refs:
            if not target.startswith("#/"):
                raise Unsupported(f"non-local $ref {target}")
            node: Any = self.root
            for part in target[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            self.refs[target] = _never  # a cycle would check "not sure", never loop
            self.refs[target] = self.compile(node)
        return self.refs[target]

    def keyword(self, name: str, value: Any, schema: Mapping[str, Any]) -> Check:
        if name in _ANNOTATIONS:
            return _always
        if name == "$ref":
            return self.ref(value)
        if name == "type":
            names = value if isinstance(value, list) else [value]
            tests = [TYPE_TESTS[n] for n in names]
            return lambda v: any(test(v) for test in tests)
        if name == "const":
            if isinstance(value, dict | list):
                raise Unsupported("container const")
            return lambda v: _same_json(v, value)
        if name == "enum":
            if any(isinstance(c, dict | list) for c in value):
                raise Unsupported("container enum")
            choices = list(value)
            return lambda v: any(_same_json(v, c) for c in choices)
        if name == "pattern":
            search = _regex(value).search
            return lambda v: not isinstance(v, str) or search(v) is not None
        if name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            return _bound(name, value)
        if name == "minLength":
            return lambda v: not isinstance(v, str) or len(v) >= value
        if name == "minItems":
            return lambda v: not isinstance(v, list) or len(v) >= value
        if name == "minProperties":
            return lambda v: not isinstance(v, dict) or len(v) >= value
        if name == "required":
            keys = list(value)
            return lambda v: not isinstance(v, dict) or all(k in v for k in keys)
        if name == "uniqueItems":
            if not value:
                return _always
            return lambda v: (
                not isinstance(v, list)
                or (all(isinstance(i, str) for i in v) and len(set(v)) == len(v))
            )
        if name == "items":
            item = self.compile(value)
            return lambda v: not isinstance(v, list) or all(item(i) for i in v)
        if name == "properties":
            fields = {key: self.compile(sub) for key, sub in value.items()}
            return lambda v: not isinstance(v, dict) or _properties_match(fields, v)
        if name == "additionalProperties":
            if "patternProperties" in schema:
                raise Unsupported("patternProperties")
            known = frozenset(schema.get("properties", {}))
            extra = self.compile(value)
            if extra is _never:
                return lambda v: not isinstance(v, dict) or all(k in known for k in v)
            return lambda v: (
                not isinstance(v, dict)
                or all(extra(item) for k, item in v.items() if k not in known)
            )
        if name == "propertyNames":
            key_check = self.compile(value)
            return lambda v: not isinstance(v, dict) or all(key_check(k) for k in v)
        if name == "anyOf":
            branches = [self.compile(sub) for sub in value]
            return lambda v: any(branch(v) for branch in branches)
        if name == "oneOf":
            # "Exactly one" needs exact answers from every branch, not "sure or not sure":
            # only branches made of `required` alone give them.
            if not all(isinstance(sub, Mapping) and set(sub) == {"required"} for sub in value):
                raise Unsupported("oneOf with branches other than required")
            branches = [self.compile(sub) for sub in value]
            return lambda v: sum(1 for branch in branches if branch(v)) == 1
        raise Unsupported(f"keyword {name}")


def _properties_match(fields: Mapping[str, Check], value: dict[Any, Any]) -> bool:
    # Walk whichever side is smaller: an agent sets a few of its schema's many properties.
    if len(value) < len(fields):
        for key, item in value.items():
            check = fields.get(key)
            if check is not None and not check(item):
                return False
        return True
    return all(check(value[key]) for key, check in fields.items() if key in value)


def _bound(name: str, limit: float) -> Check:
    def check(value: Any) -> bool:
        if not _is_number(value):
            return True
        if math.isnan(value):
            return False  # leave NaN to jsonschema
        if name == "minimum":
            return bool(value >= limit)
        if name == "maximum":
            return bool(value <= limit)
        if name == "exclusiveMinimum":
            return bool(value > limit)
        return bool(value < limit)

    return check

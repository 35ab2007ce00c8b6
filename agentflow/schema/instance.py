"""Check a JSON value against a JSON Schema (tool arguments, agent outputs, inputs).

jsonschema's exceptions stop here: a schema that is not valid JSON Schema (`validate`
reports it first, with its line; this is for a schema that reached run time some other way)
raises `SchemaInvalid` with one line saying where in the schema and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from agentflow.errors import SchemaInvalid
from agentflow.model.types import FrozenDict, thaw
from agentflow.schema.embedded import schema_problem


@lru_cache(maxsize=512)
def _validator(schema: FrozenDict) -> Any:
    import jsonschema  # only when a value is checked: validate stays quick for valid files

    plain = thaw(schema)
    problem = schema_problem(plain)
    if problem is not None:
        raise SchemaInvalid(_not_valid(problem))
    cls = jsonschema.validators.validator_for(plain, default=jsonschema.Draft202012Validator)
    return cls(plain)


def instance_errors(schema: Mapping[str, Any], value: Any, *, limit: int = 5) -> list[str]:
    """Readable reasons `value` does not match `schema` (empty when it matches).

    Raises `SchemaInvalid` when `schema` itself is not a valid JSON Schema.
    """
    frozen = schema if isinstance(schema, FrozenDict) else FrozenDict(dict(schema))
    validator = _validator(frozen)
    try:
        errors = sorted(validator.iter_errors(thaw(value)), key=lambda e: list(e.path))
    except Exception as exc:  # jsonschema's own, met while validating: one line, no dump
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaInvalid(_not_valid(detail)) from None
    out = []
    for error in errors[:limit]:
        where = "/".join(str(p) for p in error.absolute_path)
        out.append(f"at '{where}': {error.message}" if where else error.message)
    return out


def _not_valid(detail: str) -> str:
    return (
        f"a JSON Schema of the workflow is not valid ({detail}); "
        "`agentflow validate` shows the line"
    )

"""Check a JSON value against a JSON Schema (tool arguments, agent outputs, inputs)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from agentflow.model.types import thaw


@lru_cache(maxsize=512)
def _validator(key: str) -> Any:
    import jsonschema  # only when a value is checked: validate stays quick for valid files

    plain = json.loads(key)
    cls = jsonschema.validators.validator_for(plain, default=jsonschema.Draft202012Validator)
    return cls(plain)


def instance_errors(schema: Mapping[str, Any], value: Any, *, limit: int = 5) -> list[str]:
    """Readable reasons `value` does not match `schema` (empty when it matches)."""
    # Cached by the schema's JSON text: equal mappings may differ in type (`enum: [0]` and
    # `enum: [false]` compare equal in Python, not in JSON Schema).
    key = json.dumps(thaw(schema), sort_keys=True)
    errors = sorted(_validator(key).iter_errors(thaw(value)), key=lambda e: list(e.path))
    out = []
    for error in errors[:limit]:
        where = "/".join(str(p) for p in error.absolute_path)
        out.append(f"at '{where}': {error.message}" if where else error.message)
    return out

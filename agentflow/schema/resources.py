"""Find the JSON Schemas that ship with agentflow.

In a wheel they live in the package, under `agentflow/_schemas/` (pyproject force-includes the
repository's `schemas/` folder there); in a source checkout or an editable install they are read
from that top-level `schemas/` folder itself.

    >>> load_schema("workflow.schema.json")["$id"]
    'https://agentflow.dev/schemas/workflow.schema.json'
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

_CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema_text(name: str) -> str:
    """The text of the schema file `name` (such as "workflow.schema.json").

    Raises FileNotFoundError when no such schema ships with agentflow, ValueError when
    `name` is not a plain file name.
    """
    return _read(name)


def load_schema(name: str) -> dict[str, Any]:
    """The schema file `name`, parsed; a fresh dict each call (callers may change it)."""
    value = json.loads(_read(name))
    if not isinstance(value, dict):
        raise ValueError(f"schema {name!r} is not a JSON object")
    return value


@cache
def _read(name: str) -> str:
    if not name or name != Path(name).name or name in {".", ".."}:
        raise ValueError(f"not a schema file name: {name!r}")
    packaged = resources.files("agentflow").joinpath("_schemas").joinpath(name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = _CHECKOUT_DIR / name
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    raise FileNotFoundError(
        f"schema {name!r} not found in the installed package (agentflow/_schemas) "
        f"nor in {_CHECKOUT_DIR}"
    )

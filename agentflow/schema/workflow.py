"""Check a loaded workflow file against `schemas/workflow.schema.json`, with readable messages.

A file that fits the schema is recognised by quick compiled checks (`fastcheck`) without
importing jsonschema; only a file with errors pays for jsonschema, in `schema.explain`,
which writes one readable `Diagnostic` per problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from agentflow.errors import Diagnostic
from agentflow.loading.document import Document
from agentflow.schema.embedded import check_embedded_schemas
from agentflow.schema.fastcheck import Check, Unsupported, compile_check
from agentflow.schema.resources import load_schema

SCHEMA_NAME = "workflow.schema.json"


def validate_document(doc: Document) -> list[Diagnostic]:
    """Every way `doc` breaks the workflow schema, or a JSON Schema written inside it (see
    `schema.embedded`), sorted by position (empty when it fits)."""
    found = _workflow_errors(doc)
    # Where the workflow schema already explained a key (an input's own `type`), its
    # message stands and the metaschema's is dropped.
    seen = {(d.line, d.column, d.path) for d in found}
    for diagnostic in check_embedded_schemas(doc):
        if (diagnostic.line, diagnostic.column, diagnostic.path) not in seen:
            found.append(diagnostic)
    return sorted(found, key=lambda d: (d.line, d.column, d.path, d.message))


def _workflow_errors(doc: Document) -> list[Diagnostic]:
    fast = _fast_checks()
    data = doc.data
    if fast is not None:
        if fast.whole(data):
            return []
        data = fast.pruned(data)
    from agentflow.schema.explain import explain_errors

    return explain_errors(doc, data)


@dataclass(frozen=True, slots=True)
class _FastChecks:
    """The schema compiled to quick yes/no checks (see `agentflow.schema.fastcheck`)."""

    whole: Check
    # For each section that maps names to entries (agents, tools, ...): name and entry checks.
    sections: dict[str, tuple[Check, Check]]

    def pruned(self, data: Any) -> Any:
        """`data` without the entries the quick checks pass, so jsonschema only walks the
        rest; one entry is kept in each section so that "at least one" rules still hold."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, (name_ok, entry_ok) in self.sections.items():
            entries = data.get(name)
            if not isinstance(entries, dict) or not entries:
                continue
            kept = {k: v for k, v in entries.items() if not (name_ok(k) and entry_ok(v))}
            if not kept:
                first = next(iter(entries))
                kept = {first: entries[first]}
            out[name] = kept
        return out


@cache
def _fast_checks() -> _FastChecks | None:
    schema = load_schema(SCHEMA_NAME)
    try:
        whole = compile_check(schema)
        sections = {}
        for name, sub in schema.get("properties", {}).items():
            entry = sub.get("additionalProperties")
            if sub.get("type") == "object" and isinstance(entry, dict):
                name_ok = compile_check(sub.get("propertyNames", True), schema)
                sections[name] = (name_ok, compile_check(entry, schema))
    except Unsupported:  # pragma: no cover - the schema uses only what fastcheck knows
        return None
    return _FastChecks(whole, sections)

"""Compliance tools for compliance_audit.yaml: the policy register and collected evidence.

Reads the sample data in ../data/ (policies.json, evidence.json). In production these would
query the GRC system behind the same signatures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"


def _load(name: str) -> Any:
    with open(DATA / name, encoding="utf-8") as f:
        return json.load(f)


def get_policy(policy_id: str) -> dict[str, Any]:
    """A policy's full text, owner, version and controls with their thresholds."""
    policies = {p["id"]: p for p in _load("policies.json")}
    policy = policies.get(policy_id.strip().upper())
    if policy is None:
        raise LookupError(
            f"no policy {policy_id!r} in the register; known: {', '.join(sorted(policies))}"
        )
    return policy


def fetch_evidence(policy_id: str, department: str, period: str | None = None) -> dict[str, Any]:
    """Evidence records collected for a policy in a department, optionally for one period."""
    by_department = _load("evidence.json").get(policy_id.strip().upper(), {})
    records = by_department.get(department.strip().title(), [])
    if period:
        records = [r for r in records if r.get("period") == period.strip().upper()]
    return {
        "policy_id": policy_id.strip().upper(),
        "department": department.strip().title(),
        "period": period,
        "records": records,
        "record_count": len(records),
        "note": None if records else "no evidence collected for this scope",
    }

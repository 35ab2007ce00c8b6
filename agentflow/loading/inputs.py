"""Workflow inputs from `--input k=v`, `--inputs F.json|F.jsonl` and declared defaults."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentflow.errors import UsageError
from agentflow.model.types import InputSpec, Workflow, thaw
from agentflow.schema.instance import instance_errors
from agentflow.schema.suggest import did_you_mean
from agentflow.values import read_text_file


def _coerce(spec: InputSpec, raw: str, origin: str) -> Any:
    if raw.startswith("@"):
        file = Path(raw[1:])
        try:
            text = read_text_file(file)
        except UsageError as exc:
            raise UsageError(f"{origin}: cannot read {file}: {exc}") from None
        if spec.schema.get("type") == "string":
            return text
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{origin}: {file} is not JSON: {exc.msg} at line {exc.lineno}"
            ) from None
    if spec.schema.get("type") == "string":
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        # Unquoted text for a non-string input: let schema validation explain the mismatch.
        return raw


def _read_instances(path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        text = read_text_file(path)
    except UsageError as exc:
        raise UsageError(f"{path}: cannot read inputs: {exc}") from None
    if path.suffix != ".jsonl":
        return [(str(path), _json_object(path, text, None, "the inputs file must hold"))]
    rows: list[tuple[str, dict[str, Any]]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append((f"{path}:{n}", _json_object(path, line, n, "each line must be")))
    if not rows:
        raise UsageError(f"{path}: no input lines")
    return rows


def _json_object(path: Path, text: str, line: int | None, what: str) -> dict[str, Any]:
    """`text` (line `line` of `path`, or the whole file when None) as a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        at = exc.lineno if line is None else line
        raise UsageError(f"{path}:{at}:{exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path}:{line or 1}:1: {what} a JSON object of inputs")
    return value


def _complete(workflow: Workflow, given: Mapping[str, Any], origin: str) -> dict[str, Any]:
    specs = {spec.name: spec for spec in workflow.inputs}
    for name in given:
        if name not in specs:
            hint = did_you_mean(name, list(specs))
            known = ", ".join(specs) or "none"
            extra = f"; did you mean '{hint}'?" if hint else f"; declared inputs: {known}"
            raise UsageError(
                f"{origin}: unknown input '{name}' for workflow '{workflow.name}'{extra}"
            )
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if name in given:
            values[name] = given[name]
        elif spec.has_default:
            values[name] = thaw(spec.default)
        else:
            raise UsageError(
                f"{origin}: workflow '{workflow.name}' needs input '{name}'; "
                f"pass --input {name}=... or put it in --inputs"
            )
        problems = instance_errors(spec.schema, values[name], limit=3)
        if problems:
            raise UsageError(f"{origin}: input '{name}' is invalid: {'; '.join(problems)}")
    return values


def complete_inputs(workflow: Workflow, given: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """`given` (Python values, as the API takes them) with declared defaults filled in, checked
    against each input's schema; a `UsageError` naming `origin` for an unknown, missing or
    invalid input."""
    return _complete(workflow, given, origin)


def parse_inputs(
    workflow: Workflow, pairs: Sequence[str], inputs_file: Path | None
) -> list[dict[str, Any]]:
    """One dict of complete, schema-checked inputs per workflow instance (see parse_input_rows)."""
    return [values for _origin, values in parse_input_rows(workflow, pairs, inputs_file)]


def parse_input_rows(
    workflow: Workflow, pairs: Sequence[str], inputs_file: Path | None
) -> list[tuple[str, dict[str, Any]]]:
    """`(origin, inputs)` per workflow instance; origin is `F.jsonl:LINE` for a batch line.

    `--inputs F.jsonl` gives one instance per line; `--input k=v` applies to every
    instance and wins over the file. Values are JSON, except for string inputs, which
    take the text as written; `k=@file` reads the value from a file.
    """
    specs = {spec.name: spec for spec in workflow.inputs}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--input {pair!r}: expected NAME=VALUE")
        spec = specs.get(name)
        if spec is None:
            overrides[name] = raw  # reported as unknown by _complete, with a suggestion
        else:
            overrides[name] = _coerce(spec, raw, f"--input {name}")
    instances = _read_instances(inputs_file) if inputs_file else [("--input", {})]
    return [
        (origin, _complete(workflow, {**row, **overrides}, origin)) for origin, row in instances
    ]

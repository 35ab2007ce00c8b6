"""`agentflow validate PATH...`: schema and semantic checks, for people and for CI."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from agentflow.api import ValidationResult, validate_file
from agentflow.cli.boundary import EXIT_INVALID, EXIT_OK, print_diagnostic, stderr_console
from agentflow.core import STDIN, collect_paths
from agentflow.errors import Diagnostic
from agentflow.redaction import neutralise

VALIDATE_FORMAT = "agentflow.validate/v1"


def _github(d: Diagnostic) -> str:
    level = "error" if d.severity == "error" else "warning"
    message = neutralise(d.message).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{level} file={d.file},line={d.line},col={d.column},title=agentflow::{message}"


def _as_json(results: list[ValidationResult]) -> str:
    files = []
    for result in results:
        files.append(
            {
                "path": str(result.path),
                "valid": result.ok,
                "workflow": result.workflow.name if result.workflow else None,
                "agents": len(result.workflow.agents) if result.workflow else None,
                "diagnostics": [
                    {
                        "file": d.file,
                        "line": d.line,
                        "column": d.column,
                        "path": d.path,
                        "severity": d.severity,
                        "code": d.code,
                        "message": d.message,
                    }
                    for d in result.diagnostics
                ],
            }
        )
    valid = all(f["valid"] for f in files)
    return json.dumps({"format": VALIDATE_FORMAT, "valid": valid, "files": files}, indent=2)


STDIN_NAME = Path("<stdin>")


def _validate(path: Path, strict: bool) -> ValidationResult:
    if path == STDIN:
        return validate_file(STDIN_NAME, strict=strict, text=sys.stdin.buffer.read())
    return validate_file(path, strict=strict)


def validate(paths: list[Path], fmt: str, strict: bool, exclude: Sequence[str] = ()) -> int:
    """Check every workflow file under `paths` (`-` is stdin); exit 2 when any has errors."""
    results = [_validate(path, strict) for path in collect_paths(paths, exclude)]
    failed = [r for r in results if not r.ok]
    if fmt == "json":
        print(_as_json(results))
    elif fmt == "github":
        for result in results:
            for d in result.diagnostics:
                print(_github(d))
    else:
        console: Console = stderr_console()
        for result in results:
            for d in result.diagnostics:
                print_diagnostic(console, d)
        errors = sum(len(r.errors) for r in results)
        warnings = sum(len(r.warnings) for r in results)
        if failed:
            console.print(
                f"[red]{len(failed)} of {len(results)} workflow file(s) invalid[/red] "
                f"({errors} error(s), {warnings} warning(s))"
            )
        else:
            note = f" ({warnings} warning(s))" if warnings else ""
            console.print(f"[green]{len(results)} workflow file(s) valid[/green]{note}")
    return EXIT_INVALID if failed else EXIT_OK

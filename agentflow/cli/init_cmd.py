"""`agentflow init [TEMPLATE] [DIR]`: start a project from a shipped template."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from agentflow.cli.boundary import EXIT_OK
from agentflow.scaffold import get_template, list_templates, scaffold


def list_command(out: Console) -> int:
    """Print every template, one a line: its name and what it holds."""
    width = max(len(t.name) for t in list_templates())
    for template in list_templates():
        out.print(f"{template.name.ljust(width)}  {escape(template.description)}")
    return EXIT_OK


def init_command(template: str, dest: Path, out: Console) -> int:
    """Write `template` into `dest`, then say what was written and what to try next."""
    written = scaffold(template, dest)
    for path in written:
        out.print(f"created {escape(str(path))}")
    workflow = shlex.quote(str(dest / get_template(template).workflow_file))
    out.print(
        "\nnext:\n"
        f"  agentflow validate {workflow}\n"
        f"  agentflow plan {workflow}\n"
        f"  agentflow run {workflow} --mock"
    )
    return EXIT_OK

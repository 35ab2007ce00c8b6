"""Model names are data in plan's tables: never read as Rich markup."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from agentflow.core import load_workflow
from agentflow.plan.estimate import make_plan
from agentflow.plan.pricing import load_price_book
from agentflow.plan.render import plan_table


def test_a_model_named_with_brackets_prints_as_written(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        "version: 1\n"
        "name: close\n"
        "pricing:\n"
        '  "local/[red]m[/bold]": {input: 1, output: 2}\n'
        "agents:\n"
        "  a:\n"
        '    model: "local/[red]m[/bold]"\n'
        "    prompt: hi\n",
        encoding="utf-8",
    )
    workflow = load_workflow(path)
    plan = make_plan(workflow, {}, load_price_book(workflow.pricing))
    console = Console(width=120, record=True, color_system=None, file=io.StringIO())
    console.print(plan_table(plan))
    text = console.export_text()
    assert "local/[red]m[/bold]" in text

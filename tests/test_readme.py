"""The README's example workflow is valid, so the first thing a reader copies works."""

from __future__ import annotations

import re
from pathlib import Path

from agentflow.core import analyze

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_workflow_validates_without_problems(tmp_path: Path) -> None:
    example = re.search(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
    assert example is not None
    path = tmp_path / "screen_candidate.yaml"
    path.write_text(example.group(1))
    result = analyze(path)
    assert result.workflow is not None, [d.render() for d in result.diagnostics]
    assert result.diagnostics == ()
    assert [a.id for a in result.workflow.agents] == ["parse", "screen"]

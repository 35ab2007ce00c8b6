"""The B12 workload is a real workflow file, and its largest size fits the file limit."""

from __future__ import annotations

from pathlib import Path

from agentflow.core import analyze
from agentflow.loading import MAX_FILE_BYTES
from benchmarks.percall import B12_SIZES, compact_chain_yaml


def test_the_largest_plan_workload_fits_in_one_workflow_file() -> None:
    assert len(compact_chain_yaml(max(B12_SIZES)).encode("utf-8")) < MAX_FILE_BYTES


def test_the_plan_workload_is_a_valid_workflow_of_chains(tmp_path: Path) -> None:
    path = tmp_path / "b12.yaml"
    path.write_text(compact_chain_yaml(300), encoding="utf-8")
    analysis = analyze(path)
    assert analysis.errors == ()
    assert analysis.workflow is not None
    agents = {a.id: a for a in analysis.workflow.agents}
    assert len(agents) == 300
    assert agents["a150"].needs == ("a50",)  # through `needs`
    assert "agents.a51.output" in agents["a151"].prompt  # through the prompt
    assert agents["a99"].needs == () and "agents" not in agents["a99"].prompt

"""What a report must never do: show a secret, drop unknown cost, trip over a cut-short log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow.report.model import load_report
from agentflow.report.render import render_document, report_json
from tests.report.runs import write_log

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


def _line(seq: int, event: str, agent: str | None = "a", **fields: object) -> dict[str, object]:
    scoped = agent is not None
    return {
        "v": 1,
        "seq": seq,
        "ts": f"2026-01-01T00:00:0{min(seq, 9)}.000Z",
        "run_id": "r-e",
        "event": event,
        "workflow": "wf" if scoped else None,
        "instance": 0 if scoped else None,
        "agent": agent,
        **fields,
    }


def _log(tmp_path: Path, *extra: dict[str, object], cut: bool = False) -> Path:
    lines = [
        _line(
            1,
            "run.started",
            None,
            workflows=["wf"],
            command=["agentflow", "run", "wf.yaml", f"--input=key={SECRET}"],
        ),
        _line(2, "agent.started", model="x/unpriced"),
        _line(3, "llm.request", model="x/unpriced", attempt=1, round=0, index=None),
        _line(
            4,
            "llm.response",
            model="x/unpriced",
            attempt=1,
            round=0,
            index=None,
            input_tokens=10,
            output_tokens=5,
            cost_usd=None,
            latency_s=1.0,
        ),
        _line(
            5,
            "agent.completed",
            model="x/unpriced",
            cost_usd=None,
            calls=1,
            input_tokens=10,
            output_tokens=5,
        ),
        _line(6, "agent.started", "b", model="m"),
        _line(7, "llm.request", "b", model="m", attempt=1, round=0, index=None),
        _line(
            8,
            "agent.failed",
            "b",
            model="m",
            error_class="authentication",
            message=f"401 bad key {SECRET}\x1b[31m",
            cost_usd=0.0,
            calls=1,
            input_tokens=0,
            output_tokens=0,
        ),
        *extra,
    ]
    path = write_log(tmp_path / "r-e.jsonl", lines)
    if cut:
        with path.open("a", encoding="utf-8") as handle:
            handle.write('{"v":1,"seq":99,"ts":"2026-01-01T00:00:09.0')  # killed mid-line
    return path


@pytest.mark.parametrize("format", ["text", "markdown", "json", "junit", "html"])
def test_no_format_shows_a_secret_or_a_control_character(tmp_path: Path, format: str) -> None:
    _log(tmp_path)
    text = render_document(load_report(tmp_path, "r-e"), format)
    assert SECRET not in text
    assert "\x1b" not in text
    assert "[REDACTED]" in text or "REDACTED" in json.dumps(text)


def test_unknown_prices_are_never_shown_as_zero(tmp_path: Path) -> None:
    _log(tmp_path)
    report = load_report(tmp_path, "r-e", with_dag=False)
    document = report_json(report)
    assert document["totals"]["cost_usd"] is None
    assert document["totals"]["unknown_cost_calls"] == 1
    unpriced = next(r for r in document["by_model"] if r["model"] == "x/unpriced")
    assert unpriced["cost_usd"] is None
    assert "+ 1 unpriced" in render_document(report, "text")


def test_a_log_cut_mid_line_is_reported_as_unfinished(tmp_path: Path) -> None:
    _log(tmp_path, cut=True)
    report = load_report(tmp_path, "r-e", with_dag=False)
    assert report.status == "unfinished"
    assert report.continue_command is not None and "resume r-e" in report.continue_command
    # The agent that failed still counts as failed; nothing was lost to the cut line.
    assert [f.agent for f in report.failures] == ["b"]
    assert report.totals.calls == 2

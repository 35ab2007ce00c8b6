"""Every sink redacts secrets and shows control characters from outside as visible escapes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from agentflow import redaction
from agentflow.cli.boundary import print_json_data
from agentflow.events.types import Event
from agentflow.redaction import Redactor
from agentflow.sinks.jsonl import JsonlSink
from agentflow.sinks.plain import PlainSink
from agentflow.sinks.progress import ProgressSink
from agentflow.sinks.summary import CostSummary, cost_table, failure_report

KEY = "org-7Hq2Lx9Vb4Nm8Kp3Rt6Wz1Qe"
ATTACK = "\x1b]0;pwned\x07\x1b[2J\x1b[31;7mRED\r\x08\x9b2J\u202eevil"
RAW = ("\x1b]0;pwned", "\x07", "\x1b[2J", "\x1b[31;7m", "\x08", "\x9b", "\u202e")


@pytest.fixture(autouse=True)
def _process_redactor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(redaction, "_active", Redactor([KEY]))
    yield


def failed(message: str) -> Event:
    data = {"error_class": "authentication", "message": message, "attempts": 1, "cost_usd": 0.0}
    return Event("agent.failed", 0.0, "r1", 3, "ledger", 0, "audit", data)


def test_plain_lines_hold_no_secret_and_no_raw_control_character() -> None:
    out = io.StringIO()
    sink = PlainSink(out)
    sink.handle(failed(f"401 for {KEY}: {ATTACK}"))
    sink.close()
    line = out.getvalue()
    assert KEY not in line and not [seq for seq in RAW if seq in line]
    assert (
        "401 for [REDACTED]: \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31;7mRED \\x08\\x9b2J\\u202eevil"
        in line
    )


def test_the_failure_report_redacts_before_a_table_folds_the_message() -> None:
    summary = CostSummary()
    # Where the key sits, a narrow table folds the cell: the stream would see it in halves.
    summary.handle(failed("x" * 50 + f" {KEY} {ATTACK}"))
    summary.close()
    out = io.StringIO()
    Console(file=out, width=60, force_terminal=True, color_system="standard").print(
        failure_report(summary, "agentflow run f.yaml")
    )
    text = out.getvalue()
    assert KEY[:10] not in text and not [seq for seq in RAW if seq in text]
    assert "[REDACTED]" in text


def test_outputs_on_a_colour_terminal_are_redacted_and_escaped_as_json() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=200)
    data = {"note": f"key {KEY} then {ATTACK}", "n": 3, "access_token": "short"}
    print_json_data(console, data)
    text = out.getvalue()
    assert KEY not in text and "short" not in text
    assert not [seq for seq in ("\x1b]0;pwned", "\x9b", "\u202e") if seq in text]
    assert "\\u009b2J\\u202eevil" in text


def test_the_log_keeps_the_value_and_escapes_what_a_terminal_would_obey(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "r.jsonl")
    sink.handle(failed(f"bad {KEY} {ATTACK}"))
    sink.close()
    text = (tmp_path / "r.jsonl").read_text(encoding="utf-8")
    assert KEY not in text and not [seq for seq in RAW if seq in text]
    assert json.loads(text)["message"] == f"bad [REDACTED] {ATTACK}"


def test_a_model_name_from_the_file_cannot_drive_the_terminal_in_the_tables() -> None:
    summary = CostSummary()
    model = "openai/gpt\x1b[2J\x9b"
    summary.handle(Event("llm.response", 0.0, "r1", 1, "w", 0, "a", {"model": model}))
    summary.handle(Event("agent.completed", 0.0, "r1", 2, "w", 0, "a", {"model": model}))
    summary.close()
    out = io.StringIO()
    Console(file=out, width=160, force_terminal=True).print(cost_table(summary))
    assert "\x1b[2J" not in out.getvalue() and "\x9b" not in out.getvalue()
    assert "openai/gpt\\x1b[2J\\x9b" in out.getvalue()


def test_the_live_display_shows_a_hostile_model_name_escaped() -> None:
    model = "openai/gpt\x1b[2J\x9b"
    sink = ProgressSink(Console(file=io.StringIO()), lambda: 0.0)
    sink.handle(Event("run.started", 0.0, "r1", 1, None, None, None, {"workflows": ["w"]}))
    sink.handle(Event("workflow.started", 0.0, "r1", 2, "w", 0, None, {"agents": 1}))
    sink.handle(Event("agent.started", 0.0, "r1", 3, "w", 0, "a", {"model": model}))
    out = io.StringIO()
    Console(file=out, width=160, force_terminal=True).print(sink.render())
    assert "\x1b[2J" not in out.getvalue() and "\x9b" not in out.getvalue()
    assert "openai/gpt\\x1b[2J\\x9b" in out.getvalue()

"""The run log's write path: no empty file, bounded lines, a deleted log reported once."""

from __future__ import annotations

import json
from pathlib import Path

from agentflow.events.bus import EventBus
from agentflow.sinks.jsonl import JsonlSink

TS = 1_790_000_000.0


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_log_is_created_with_its_first_line_never_empty(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "r.jsonl"
    sink = JsonlSink(path)
    assert path.parent.is_dir() and not path.exists()
    sink.close()  # nothing was written: nothing is left behind
    assert not path.exists()

    sink = JsonlSink(path)
    bus = EventBus("r", lambda: TS, [sink])
    bus.emit("run.started")
    assert path.stat().st_size > 0
    bus.close()


def test_a_huge_value_is_cut_to_the_line_bound_and_the_line_says_so(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    bus = EventBus("r", lambda: TS, [JsonlSink(path, max_line_bytes=50_000)])
    answer = "ledger line\n" * 100_000  # 1.2 MB
    bus.emit("agent.completed", workflow="wf", instance=0, agent="a", output=answer, calls=1)
    bus.emit("workflow.completed", workflow="wf", instance=0, outputs={"all": [answer] * 3})
    bus.emit("run.completed", status="ok")
    bus.close()

    raw = path.read_bytes().splitlines()
    assert all(len(line) <= 50_000 for line in raw), [len(line) for line in raw]
    completed, workflow, final = lines(path)
    assert completed["truncated"] is True
    assert completed["original_bytes"] > 1_200_000
    assert str(completed["output"]).startswith("ledger line\nledger line")
    assert completed["calls"] == 1 and completed["agent"] == "a"
    assert workflow["truncated"] is True
    assert "truncated" not in final


def test_deleting_the_log_mid_run_is_reported_once_and_the_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "r.jsonl"
    now = [0.0]
    warnings: list[str] = []
    sink = JsonlSink(path, warn=warnings.append, monotonic=lambda: now[0])
    bus = EventBus("r", lambda: TS, [sink])
    bus.emit("run.started")
    path.unlink()
    path.parent.rmdir()
    for seq in range(5):
        now[0] += 2.0
        bus.emit("agent.started", workflow="wf", instance=0, agent=f"a{seq}")
    bus.close()
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "deleted" in warnings[0]
    assert bus.failures == ()

"""Run history: every log in the log dir, finished or cut short, copied in or written here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentflow.state.history import UNFINISHED, find_run, list_runs, workflow_trend


def line(seq: int, ts: str, run_id: str, event: str, **data: Any) -> str:
    envelope = {"v": 1, "seq": seq, "ts": ts, "run_id": run_id, "event": event}
    envelope.setdefault("workflow", data.pop("workflow", None))
    envelope.setdefault("instance", data.pop("instance", None))
    envelope.setdefault("agent", data.pop("agent", None))
    return json.dumps({**envelope, **data}) + "\n"


def write_log(
    log_dir: Path,
    run_id: str,
    *,
    day: int,
    workflows: tuple[str, ...] = ("invoices",),
    status: str | None = "ok",
    cost: float = 0.5,
    parent: str | None = None,
    responses: tuple[float | None, ...] = (),
) -> Path:
    start = f"2026-11-{day:02d}T10:00:00.000Z"
    text = line(
        1,
        start,
        run_id,
        "run.started",
        workflows=list(workflows),
        instances=2,
        parent_run_id=parent,
    )
    seq = 2
    for i, value in enumerate(responses):
        text += line(
            seq, start, run_id, "llm.request", workflow=workflows[0], instance=0, agent=f"a{i}"
        )
        text += line(
            seq + 1,
            f"2026-11-{day:02d}T10:00:0{i + 1}.000Z",
            run_id,
            "llm.response",
            workflow=workflows[0],
            instance=0,
            agent=f"a{i}",
            cost_usd=value,
        )
        seq += 2
    for name in workflows:
        text += line(
            seq,
            start,
            run_id,
            "workflow.completed",
            workflow=name,
            instance=0,
            status="ok",
            cost_usd=cost / len(workflows),
            duration_s=4.0,
        )
        seq += 1
    if status is not None:
        totals = {"cost_usd": cost, "unknown_cost_calls": 0, "calls": 7}
        text += line(
            seq,
            f"2026-11-{day:02d}T10:00:05.000Z",
            run_id,
            "run.completed",
            status=status,
            exit_code=0 if status == "ok" else 1,
            duration_s=5.0,
            totals=totals,
        )
    path = log_dir / f"{run_id}.jsonl"
    path.write_text(text)
    return path


def test_runs_are_listed_oldest_first_with_their_totals(tmp_path: Path) -> None:
    write_log(tmp_path, "b", day=2, cost=0.25)
    write_log(tmp_path, "a", day=3, status="failed", parent="b")
    (tmp_path / "notes.txt").write_text("not a log")
    (tmp_path / "other.jsonl").write_text('{"hello": 1}\n')

    runs = list_runs(tmp_path)

    assert [r.run_id for r in runs] == ["b", "a"]
    first = runs[0]
    assert (first.status, first.cost_usd, first.calls, first.duration_s) == ("ok", 0.25, 7, 5.0)
    assert first.workflows == ("invoices",)
    assert runs[1].parent_run_id == "b"
    assert runs[1].as_json()["started"] == "2026-11-03T10:00:00.000Z"


def test_filters_by_workflow_status_and_start(tmp_path: Path) -> None:
    write_log(tmp_path, "r1", day=1, workflows=("invoices",))
    write_log(tmp_path, "r2", day=2, workflows=("payroll",), status="failed")
    write_log(tmp_path, "r3", day=3, workflows=("invoices", "payroll"))
    assert [r.run_id for r in list_runs(tmp_path, workflow="payroll")] == ["r2", "r3"]
    assert [r.run_id for r in list_runs(tmp_path, statuses=("failed",))] == ["r2"]
    since = datetime(2026, 11, 2, tzinfo=UTC)
    assert [r.run_id for r in list_runs(tmp_path, since=since)] == ["r2", "r3"]


def test_a_killed_run_is_unfinished_and_its_paid_answers_are_summed(tmp_path: Path) -> None:
    path = write_log(tmp_path, "k", day=4, status=None, responses=(0.01, 0.02, None))
    with path.open("a") as f:
        f.write('{"v": 1, "seq": 99, "ev')  # the line a SIGKILL cut
    record = find_run(tmp_path, "k")
    assert record is not None
    assert record.status == UNFINISHED
    assert record.cost_usd == 0.03
    assert record.unknown_cost_calls == 1
    assert record.calls == 3
    assert record.duration_s == 3.0


def test_latest_is_the_newest_started_run(tmp_path: Path) -> None:
    write_log(tmp_path, "zzz-old", day=1)
    write_log(tmp_path, "aaa-new", day=9)
    latest = find_run(tmp_path, "latest")
    assert latest is not None and latest.run_id == "aaa-new"
    assert find_run(tmp_path, "missing") is None
    assert find_run(tmp_path / "nowhere", "latest") is None


def test_trend_reads_a_workflows_share_of_a_mixed_run(tmp_path: Path) -> None:
    write_log(tmp_path, "solo", day=1, cost=0.4)
    write_log(tmp_path, "mixed", day=2, workflows=("invoices", "payroll"), cost=1.0)
    solo, mixed = list_runs(tmp_path)
    assert workflow_trend(solo, "invoices").cost_usd == 0.4
    share = workflow_trend(mixed, "payroll")
    assert (share.instances, share.cost_usd, share.duration_s) == (1, 0.5, 4.0)


def test_a_long_last_line_does_not_hide_run_completed(tmp_path: Path) -> None:
    path = write_log(tmp_path, "big", day=5, status=None)
    with path.open("a") as f:
        f.write(
            line(50, "2026-11-05T10:00:01.000Z", "big", "agent.completed", output="x" * 200_000)
        )
        f.write(
            line(
                51,
                "2026-11-05T10:00:02.000Z",
                "big",
                "run.completed",
                status="ok",
                exit_code=0,
                duration_s=2.0,
                totals={"cost_usd": 1.5, "calls": 3},
            )
        )
    record = find_run(tmp_path, "big")
    assert record is not None and (record.status, record.cost_usd) == ("ok", 1.5)


def test_calls_in_flight_at_a_stop_are_counted_from_the_log(tmp_path: Path) -> None:
    from agentflow.state.lineage import unanswered

    ts = "2026-11-01T10:00:00.000Z"
    common = {"workflow": "wf", "instance": 0}
    text = line(1, ts, "r", "run.started", workflows=["wf"], instances=1)
    text += line(2, ts, "r", "llm.request", **common, agent="a", index=None, round=0, attempt=1)
    text += line(3, ts, "r", "llm.response", **common, agent="a", index=None, round=0, attempt=1)
    text += line(4, ts, "r", "llm.request", **common, agent="b", index=0, round=0, attempt=1)
    text += line(5, ts, "r", "llm.retry", **common, agent="b", index=0, attempt=1)
    text += line(6, ts, "r", "llm.request", **common, agent="b", index=0, round=0, attempt=2)
    text += line(7, ts, "r", "llm.request", **common, agent="b", index=1, round=0, attempt=1)
    text += line(8, ts, "r", "llm.request", **common, agent="c", index=None, round=0, attempt=1)
    text += line(9, ts, "r", "agent.failed", **common, agent="c", error_class="bad_request")
    path = tmp_path / "r.jsonl"
    path.write_text(text)
    # b's second attempt of item 0 and its item 1 were sent and never answered.
    assert unanswered(path) == 2


def test_a_killed_runs_calls_in_flight_count_at_their_worst_case(tmp_path: Path) -> None:
    """A SIGKILL leaves no llm.abandoned line: the calls it cut off may have been billed,
    so the chain's budget on resume must count them, at the most each could cost."""
    from agentflow.state.lineage import continue_run

    ts = "2026-11-01T10:00:00.000Z"
    common = {"workflow": "wf", "instance": 0, "round": 0, "attempt": 1}
    text = line(1, ts, "k", "run.started", workflows=["wf"], instances=1, files=[], settings={})
    text += line(2, ts, "k", "llm.request", **common, agent="a", index=None, worst_cost_usd=0.25)
    text += line(3, ts, "k", "llm.response", **common, agent="a", index=None, cost_usd=0.1)
    text += line(4, ts, "k", "llm.request", **common, agent="b", index=None, worst_cost_usd=0.5)
    text += line(5, ts, "k", "llm.request", **common, agent="c", index=None, worst_cost_usd=0.75)
    text += line(
        6, ts, "k", "llm.abandoned", **common, agent="c", index=None, unconfirmed_cost_usd=0.75
    )
    text += line(7, ts, "k", "llm.request", **common, agent="d", index=None, worst_cost_usd=None)
    (tmp_path / "k.jsonl").write_text(text)

    record = find_run(tmp_path, "k")
    assert record.status == UNFINISHED
    assert record.cost_usd == 0.1
    # b was cut off in flight (0.5); c was abandoned, counted once by its own line (0.75);
    # d has no known price and adds nothing known.
    assert record.unconfirmed_cost_usd == 1.25
    plan = continue_run(tmp_path, "k", mode="resume")
    assert plan.in_flight_at_stop == 2
    assert plan.spent_usd == 1.35

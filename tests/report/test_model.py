"""The report record read from real run logs: usage, latency, retries, waits, failures, chains."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow.errors import UsageError
from agentflow.report.model import load_report, percentiles
from tests.report.runs import events, invoice_workflow, run_logged, write_log


def test_percentiles_are_nearest_rank() -> None:
    p = percentiles([float(v) for v in range(1, 101)])
    assert (p.count, p.p50, p.p90, p.p99, p.max) == (100, 50.0, 90.0, 99.0, 100.0)
    assert percentiles([]).p50 is None
    assert percentiles([2.0]).p99 == 2.0


def test_usage_latency_and_retries_of_a_run_match_its_log(tmp_path: Path) -> None:
    path = run_logged(tmp_path, "r-1", invoice_workflow())
    report = load_report(tmp_path, "r-1", with_dag=False)
    logged = events(path)[-1]["totals"]

    assert report.totals.known_cost_usd == pytest.approx(logged["cost_usd"])
    assert report.totals.calls == logged["calls"]
    assert report.status == "failed" and report.exit_code == 1
    check = next(r for r in report.by_agent if r.name == "check")
    # Both instances: a 500 after 2 s, then an answer after 2 s.
    assert check.usage.retries == 2 and check.latency.p50 == 2.0 and check.runs == 2
    assert report.retries_by_class == (("server_error", 2),)
    assert report.retry_wait_s == 1.0
    gpt4o = next(r for r in report.by_model if r.name == "openai/gpt-4o")
    assert gpt4o.usage.known_cost_usd == pytest.approx(2 * 0.0007)


def test_a_failure_names_what_it_skipped_and_the_retry_command(tmp_path: Path) -> None:
    run_logged(tmp_path, "r-1", invoice_workflow())
    report = load_report(tmp_path, "latest", with_dag=False)

    [failure] = report.failures
    assert (failure.instance, failure.agent, failure.error_class) == (1, "classify", "bad_request")
    assert failure.skipped == ("approve",)
    assert "not a number" in failure.message
    assert report.continue_command == f"agentflow retry r-1 --log-dir {tmp_path}"


def test_the_timeline_has_attempts_and_the_back_off_between_them(tmp_path: Path) -> None:
    run_logged(tmp_path, "r-1", invoice_workflow())
    report = load_report(tmp_path, "r-1", with_dag=False)
    check = report.latest[("invoices", 0, "check")]
    kinds = [(s.kind, s.start_s, s.end_s, s.outcome, s.attempt) for s in check.segments]
    assert kinds == [
        ("call", 1.0, 3.0, "server_error", 1),
        ("retry_wait", 3.0, 3.5, "server_error", 1),
        ("call", 3.5, 5.5, "ok", 2),
    ]
    classify = report.latest[("invoices", 1, "classify")]
    assert [s.outcome for s in classify.segments] == ["bad_request"]


def _line(
    seq: int, ts: str, event: str, run_id: str = "r-w", **fields: object
) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1,
        "seq": seq,
        "ts": f"2026-01-01T00:00:{ts}Z",
        "run_id": run_id,
        "event": event,
        "workflow": "wf",
        "instance": 0,
        "agent": "a",
    }
    return {**base, **fields}


def test_rate_limit_waits_last_until_the_call_is_sent(tmp_path: Path) -> None:
    write_log(
        tmp_path / "r-w.jsonl",
        [
            _line(
                1,
                "00.000",
                "run.started",
                workflow=None,
                instance=None,
                agent=None,
                workflows=["wf"],
            ),
            _line(2, "00.000", "agent.started", model="m"),
            _line(
                3, "00.000", "ratelimit.wait", key="m", reason="rpm", expected_wait_s=1.0, model="m"
            ),
            _line(4, "02.500", "llm.request", model="m", attempt=1, round=0, index=None),
            _line(
                5,
                "03.000",
                "llm.response",
                model="m",
                attempt=1,
                round=0,
                index=None,
                input_tokens=1,
                output_tokens=1,
                cost_usd=0.001,
                latency_s=0.5,
            ),
            _line(
                6,
                "03.000",
                "agent.completed",
                model="m",
                cost_usd=0.001,
                calls=1,
                input_tokens=1,
                output_tokens=1,
            ),
        ],
    )
    report = load_report(tmp_path, "r-w", with_dag=False)
    assert [(w.reason, w.count, w.seconds) for w in report.waits] == [("rpm", 1, 2.5)]
    assert report.status == "unfinished"
    assert report.continue_command == f"agentflow resume r-w --log-dir {tmp_path}"


def test_a_budget_wait_lasts_until_a_limit_holds_the_call_or_it_is_sent(tmp_path: Path) -> None:
    response = {"input_tokens": 1, "output_tokens": 1, "cost_usd": 0.001, "latency_s": 0.5}
    call = {"model": "m", "attempt": 1, "round": 0, "index": None}
    write_log(
        tmp_path / "r-w.jsonl",
        [
            _line(
                1,
                "00.000",
                "run.started",
                workflow=None,
                instance=None,
                agent=None,
                workflows=["wf"],
            ),
            _line(2, "00.000", "agent.started", model="m"),
            _line(
                3, "00.000", "budget.wait", scope="run", requested_usd=0.01, model="m", index=None
            ),
            _line(
                4, "01.000", "ratelimit.wait", key="m", reason="rpm", expected_wait_s=1.0, model="m"
            ),
            _line(5, "01.500", "llm.request", **call),
            _line(6, "02.000", "llm.response", **call, **response),
            _line(7, "02.000", "agent.completed", model="m", cost_usd=0.001, calls=1),
            _line(8, "02.000", "agent.started", agent="b", model="m"),
            _line(
                9,
                "02.000",
                "budget.wait",
                agent="b",
                scope="run",
                requested_usd=0.01,
                model="m",
                index=None,
            ),
            _line(10, "02.250", "agent.skipped", agent="b", reason="budget", detail="refused"),
        ],
    )
    report = load_report(tmp_path, "r-w", with_dag=False)
    assert [(w.reason, w.count, w.seconds) for w in report.waits] == [
        ("budget", 2, 1.25),
        ("rpm", 1, 0.5),
    ]
    segments = {
        run.agent: [(s.kind, s.start_s, s.end_s) for s in run.segments if "wait" in s.kind]
        for run in report.agents
    }
    assert segments["a"] == [("budget_wait", 0.0, 1.0), ("ratelimit_wait", 1.0, 1.5)]
    assert segments["b"] == [("budget_wait", 2.0, 2.25)]


def test_a_retried_run_is_combined_with_its_parent(tmp_path: Path) -> None:
    first = events(run_logged(tmp_path, "r-1", invoice_workflow()))
    # The retry: classify of instance 1 answers now; everything else is taken from r-1.
    started = {
        **first[0],
        "run_id": "r-2",
        "parent_run_id": "r-1",
        "seq": 1,
        "ts": "2026-01-02T00:00:00.000Z",
    }
    lines: list[dict[str, object]] = [started]
    seq = 1
    for e in first:
        if e["event"] in ("agent.completed",) and not (
            e["instance"] == 1 and e["agent"] == "classify"
        ):
            seq += 1
            lines.append(
                {
                    **{k: e[k] for k in ("v", "workflow", "instance", "agent")},
                    "seq": seq,
                    "ts": "2026-01-02T00:00:00.000Z",
                    "run_id": "r-2",
                    "event": "agent.reused",
                    "status": "completed",
                    "from_run_id": "r-1",
                    "original_cost_usd": e["cost_usd"],
                }
            )

    def at(s: str, event: str, agent: str, **f: object) -> dict[str, object]:
        nonlocal seq
        seq += 1
        return {
            "v": 1,
            "seq": seq,
            "ts": f"2026-01-02T00:00:0{s}Z",
            "run_id": "r-2",
            "event": event,
            "workflow": "invoices",
            "instance": 1,
            "agent": agent,
            **f,
        }

    lines += [
        at("0.000", "agent.started", "classify", model="openai/gpt-4o-mini"),
        at(
            "0.000",
            "llm.request",
            "classify",
            model="openai/gpt-4o-mini",
            attempt=1,
            round=0,
            index=None,
        ),
        at(
            "1.000",
            "llm.response",
            "classify",
            model="openai/gpt-4o-mini",
            attempt=1,
            round=0,
            index=None,
            input_tokens=100,
            output_tokens=10,
            cost_usd=0.5,
            latency_s=1.0,
        ),
        at(
            "1.000",
            "agent.completed",
            "classify",
            model="openai/gpt-4o-mini",
            cost_usd=0.5,
            calls=1,
            input_tokens=100,
            output_tokens=10,
        ),
        at("1.000", "agent.started", "approve", model="openai/gpt-4o-mini"),
        at(
            "1.000",
            "agent.completed",
            "approve",
            model="openai/gpt-4o-mini",
            cost_usd=0.0,
            calls=0,
            input_tokens=0,
            output_tokens=0,
        ),
        {
            "v": 1,
            "seq": seq + 1,
            "ts": "2026-01-02T00:00:01.000Z",
            "run_id": "r-2",
            "event": "run.completed",
            "workflow": None,
            "instance": None,
            "agent": None,
            "status": "ok",
            "exit_code": 0,
            "duration_s": 1.0,
            "totals": {},
        },
    ]
    write_log(tmp_path / "r-2.jsonl", lines)

    report = load_report(tmp_path, "r-2", with_dag=False)
    assert [p.run_id for p in report.runs] == ["r-1", "r-2"]
    assert report.status == "ok" and report.failures == () and report.continue_command is None
    parent = load_report(tmp_path, "r-1", with_dag=False)
    # Money of both runs, counted once: the parent's spend plus the new answer.
    assert report.totals.known_cost_usd == pytest.approx(parent.totals.known_cost_usd + 0.5)
    assert report.latest[("invoices", 1, "classify")].run_id == "r-2"
    assert report.latest[("invoices", 0, "extract")].run_id == "r-1"
    assert report.counts == {"completed": 8, "failed": 0, "skipped": 0, "running": 0}
    # The parent's failed attempt bought nothing: it stays in the cost of failed work.
    assert report.failed_work.calls == parent.failed_work.calls


def test_a_missing_run_or_parent_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no runs in"):
        load_report(tmp_path, "latest")
    with pytest.raises(UsageError, match="no run 'nope'"):
        load_report(tmp_path, "nope")
    write_log(
        tmp_path / "r-c.jsonl",
        [
            _line(
                1,
                "00.000",
                "run.started",
                run_id="r-c",
                parent_run_id="gone",
                workflow=None,
                agent=None,
            )
        ],
    )
    with pytest.raises(UsageError, match="whose log is not in"):
        load_report(tmp_path, "r-c")

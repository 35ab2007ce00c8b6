from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agentflow import redaction
from agentflow.events.bus import EventBus
from agentflow.events.types import Event
from agentflow.redaction import Redactor
from agentflow.sinks import jsonl
from agentflow.sinks.jsonl import JsonlSink

TS = datetime(2026, 11, 24, 10, 0, 1, 234000, tzinfo=UTC).timestamp()


def event(name: str = "agent.started", ts: float = TS, seq: int = 1, **data: Any) -> Event:
    return Event(name, ts, "run-7", seq, "hr", 0, "screen", data)


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_event_becomes_one_line_with_the_envelope_then_the_flattened_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "logs" / "run-7.jsonl"
    sink = JsonlSink(path)
    sink.handle(event(model="openai/gpt-4o-mini", items=None))
    sink.close()

    text = path.read_text(encoding="utf-8")
    assert text == (
        '{"v":1,"seq":1,"ts":"2026-11-24T10:00:01.234Z","run_id":"run-7","event":"agent.started",'
        '"workflow":"hr","instance":0,"agent":"screen","model":"openai/gpt-4o-mini","items":null}\n'
    )


def test_data_keys_never_overwrite_the_envelope(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "r.jsonl")
    sink.handle(event(seq=3, event="spoofed", seq_=1, v=2))
    sink.close()
    [line] = read_lines(tmp_path / "r.jsonl")
    assert (line["v"], line["seq"], line["event"]) == (1, 3, "agent.started")
    assert (line["data_event"], line["data_v"], line["seq_"]) == ("spoofed", 2, 1)


def test_the_file_is_appended_to_never_truncated(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")
    sink = JsonlSink(path)
    sink.handle(event())
    sink.close()
    assert [next(iter(line)) for line in read_lines(path)] == ["earlier", "v"]


def test_each_line_is_flushed_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    sink = JsonlSink(path)
    sink.handle(event(seq=1))
    sink.handle(event(seq=2))
    # Another reader sees both lines before the sink is closed.
    assert [line["seq"] for line in read_lines(path)] == [1, 2]
    sink.close()


def test_fsync_happens_at_terminal_events_and_on_close_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(jsonl.os, "fsync", lambda fd: synced.append(fd))
    sink = JsonlSink(tmp_path / "r.jsonl")
    for name in ("run.started", "agent.started", "llm.response", "run.cancelled"):
        sink.handle(event(name))
    assert len(synced) == 1
    sink.handle(event("run.completed"))
    assert len(synced) == 2
    sink.close()
    sink.close()
    assert len(synced) == 3


def test_values_json_cannot_encode_are_written_safely(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "r.jsonl")
    sink.handle(event(path=Path("/tmp/x"), when=datetime(2026, 1, 2, tzinfo=UTC), ids={1}))
    sink.handle(event(seq=2, cost_usd=float("nan"), latency_s=float("inf"), note="ok"))
    sink.handle(event(seq=3, text="lone surrogate \udcff here"))
    sink.close()
    first, second, third = read_lines(tmp_path / "r.jsonl")
    assert (first["path"], first["when"], first["ids"]) == (
        "/tmp/x",
        "2026-01-02 00:00:00+00:00",
        "{1}",
    )
    assert (second["cost_usd"], second["latency_s"], second["note"]) == (None, None, "ok")
    assert third["text"].startswith("lone surrogate ")


def test_timestamps_are_utc_with_milliseconds_across_second_boundaries(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "r.jsonl")
    for seq, ts in enumerate((TS, TS + 0.7659, TS + 61.0001, 0.0), start=1):
        sink.handle(event(seq=seq, ts=ts))
    sink.close()
    assert [line["ts"] for line in read_lines(tmp_path / "r.jsonl")] == [
        "2026-11-24T10:00:01.234Z",
        "2026-11-24T10:00:01.999Z",
        "2026-11-24T10:01:02.234Z",
        "1970-01-01T00:00:00.000Z",
    ]


SECRETS = [
    "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "sk-ant-api03-ZyXwVuTsRqPoNmLkJiHgFeDcBa-_0987654321",
    "sk-0123456789abcdefABCDEF",
    "AKIAIOSFODNN7EXAMPLE",
    "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "gsk_0123456789abcdefghijABCDEFGH",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_provider_keys_never_reach_the_log_wherever_they_hide(tmp_path: Path, secret: str) -> None:
    sink = JsonlSink(tmp_path / "r.jsonl")
    sink.handle(
        event(
            "agent.failed",
            message=f"AuthenticationError: Incorrect API key provided: {secret}.",
            output={"echo": [f"key={secret}"]},
            arguments=json.dumps({"token": secret}),
        )
    )
    sink.close()
    text = (tmp_path / "r.jsonl").read_text(encoding="utf-8")
    assert secret not in text
    [line] = read_lines(tmp_path / "r.jsonl")
    assert line["message"] == "AuthenticationError: Incorrect API key provided: [REDACTED]."
    assert line["output"] == {"echo": ["key=[REDACTED]"]}
    assert json.loads(line["arguments"]) == {"token": "[REDACTED]"}


def test_authorization_headers_and_named_secrets_are_redacted_and_json_stays_valid(
    tmp_path: Path,
) -> None:
    headers = {"Authorization": "Bearer eyJhbGciOi.J9.abc-def", "x-api-key": "plain-secret-1"}
    arguments = json.dumps({"api_key": "nested-secret-2", "query": "ok"})
    sink = JsonlSink(tmp_path / "r.jsonl")
    sink.handle(
        event(
            "tool.call",
            headers=headers,
            arguments=arguments,
            api_key=None,
            OPENAI_API_KEY="env-secret-3",
            message="curl -H 'Authorization: Bearer abcdefgh12345' https://x?api_key=qs-secret-4&n=1",
            max_tokens=600,
        )
    )
    sink.close()
    text = (tmp_path / "r.jsonl").read_text(encoding="utf-8")
    for secret in (
        "eyJhbGciOi",
        "plain-secret-1",
        "nested-secret-2",
        "env-secret-3",
        "abcdefgh12345",
        "qs-secret-4",
    ):
        assert secret not in text
    [line] = read_lines(tmp_path / "r.jsonl")
    assert line["headers"] == {"Authorization": "[REDACTED]", "x-api-key": "[REDACTED]"}
    assert json.loads(line["arguments"]) == {"api_key": "[REDACTED]", "query": "ok"}
    assert (line["api_key"], line["OPENAI_API_KEY"], line["max_tokens"]) == (
        None,
        "[REDACTED]",
        600,
    )
    assert line["message"] == (
        "curl -H 'Authorization: [REDACTED]' https://x?api_key=[REDACTED]&n=1"
    )


@pytest.mark.parametrize(
    "text",
    [
        "task-1234567890abcdefghij is a task id",
        "the risk-adjusted score is 7",
        "max_tokens: 600, password policy: strong",
        '{"authorization_status": "pending", "token_count": 12}',
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


def test_the_log_file_is_created_with_its_parent_directories_through_the_bus(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".agentflow" / "runs" / "run-7.jsonl"
    bus = EventBus("run-7", lambda: TS, [JsonlSink(path)])
    bus.emit("run.started", workflows=["hr"])
    bus.emit("run.completed", status="ok")
    bus.close()
    assert [(line["seq"], line["event"]) for line in read_lines(path)] == [
        (1, "run.started"),
        (2, "run.completed"),
    ]
    assert os.path.getsize(path) > 0


def test_a_log_that_cannot_be_written_is_reported_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    sink = JsonlSink(path)
    reported: list[str] = []
    bus = EventBus(
        "run-7", lambda: TS, [sink], on_sink_error=lambda f: reported.append(f.message())
    )
    sink._open().close()  # the disk vanished under us
    bus.emit("run.started")
    bus.emit("run.completed")
    bus.close()
    assert reported == [
        f"the run log {path} failed at event #1 (run.started): "
        "ValueError: I/O operation on closed file.; it is disabled for the rest of the run"
    ]


class Credentials:
    def __str__(self) -> str:
        return "Credentials(api_key='obj-secret-5')"


def test_long_texts_and_objects_written_via_str_are_redacted_too(tmp_path: Path) -> None:
    long_text = "model output " * 40 + "sk-ant-api03-" + "Q" * 40 + " end"
    sink = JsonlSink(tmp_path / "r.jsonl")
    for seq in (1, 2):  # the second time through the string caches
        sink.handle(event(seq=seq, output=long_text, inputs={"creds": Credentials()}))
    sink.close()
    text = (tmp_path / "r.jsonl").read_text(encoding="utf-8")
    assert "QQQQ" not in text
    assert "obj-secret-5" not in text
    first, second = read_lines(tmp_path / "r.jsonl")
    assert first["output"].endswith("[REDACTED] end")
    assert first["inputs"] == second["inputs"] == {"creds": "Credentials(api_key='[REDACTED]')"}


def test_every_line_of_a_whole_run_matches_the_schema(
    tmp_path: Path, synthetic_events: list[Event]
) -> None:
    schema_path = Path(__file__).resolve().parents[2] / "schemas" / "run-event.schema.json"
    validator = Draft202012Validator(json.loads(schema_path.read_text(encoding="utf-8")))
    sink = JsonlSink(tmp_path / "r.jsonl")
    for e in synthetic_events:
        sink.handle(e)
    sink.close()
    lines = read_lines(tmp_path / "r.jsonl")
    assert [line["seq"] for line in lines] == list(range(1, len(synthetic_events) + 1))
    for line in lines:
        assert [e.message for e in validator.iter_errors(line)] == [], line


# --------------------------------------------------------------------------- fast path


@settings(max_examples=300, deadline=None)
@given(st.from_regex(redaction._NAMED_SECRET) | st.from_regex(redaction._SHAPED_SECRET))
def test_every_text_redaction_would_change_is_flagged_for_the_full_walk(text: str) -> None:
    assert Redactor().redact(text) != text
    assert Redactor().may_hold_secret(text)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(redaction._SECRET_KEY))
def test_every_secret_named_key_is_flagged_for_the_full_walk(key: str) -> None:
    assert Redactor().may_hold_secret(key)


@pytest.mark.parametrize(
    "text",
    ["Here is a short response; no blocking issues were found.", '{"input_tokens":21}'],
)
def test_lines_without_a_trigger_skip_the_walk_in_ascii_or_not(text: str) -> None:
    assert not Redactor(["wh-9f8e7d6c5b4a3210"]).may_hold_secret(text)
    assert not Redactor().may_hold_secret(text + " \u2014 \u201cok\u201d \u2026")
    assert Redactor().may_hold_secret(text + " \u017fecret")  # a long s matches "s"
    assert Redactor([text[3:20]]).may_hold_secret(text)  # holds a secret value


_PLAIN = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="aA"),
    max_size=40,
)
_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _PLAIN,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_PLAIN, inner, max_size=4),
    max_leaves=12,
)


class _AlwaysWalk(Redactor):
    __slots__ = ()

    def may_hold_secret(self, text: str) -> bool:
        return True


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_PLAIN, _DATA, max_size=6))
def test_a_line_written_without_the_walk_is_the_line_the_walk_writes(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]
) -> None:
    # Text without an "a" holds no trigger ("api", "auth", ...), so it takes the fast path.
    folder = tmp_path_factory.mktemp("fast")
    fast = JsonlSink(folder / "fast.jsonl", Redactor(["wh-9f8e7d6c5b4a3210"]))
    walked = JsonlSink(folder / "walked.jsonl", _AlwaysWalk(["wh-9f8e7d6c5b4a3210"]))
    fast.handle(event(**{f"k_{k}": v for k, v in data.items()}))
    walked.handle(event(**{f"k_{k}": v for k, v in data.items()}))
    fast.close()
    walked.close()
    assert (folder / "fast.jsonl").read_text() == (folder / "walked.jsonl").read_text()


def test_a_secret_named_key_loses_its_whole_value_even_with_spaces(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "r.jsonl")
    sink.handle(event("tool.result", output={"password": "correct horse battery"}))
    sink.close()
    [line] = read_lines(tmp_path / "r.jsonl")
    assert line["output"] == {"password": "[REDACTED]"}

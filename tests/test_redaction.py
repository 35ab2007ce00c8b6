from __future__ import annotations

import io
import json
import re
import sys
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from agentflow import redaction
from agentflow.redaction import (
    REDACTED,
    RedactingStream,
    Redactor,
    looks_like_credential,
    neutralise,
    neutralise_json,
)

KEY = "org-7Hq2Lx9Vb4Nm8Kp3Rt6Wz1Qe"  # no recognisable shape: only its value gives it away


# -- which variables ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY",
        "AZURE_API_KEY",
        "AZURE_AD_TOKEN",
        "AZURE_CLIENT_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "VERTEXAI_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "HF_TOKEN",
        "WATSONX_APIKEY",
        "PGPASSWORD",
        "db_password",
        "GH_PAT",
        "SIGNING_KEYS",
        "SSH_PASSPHRASE",
    ],
)
def test_credential_names_are_recognised(name: str) -> None:
    assert looks_like_credential(name)


@pytest.mark.parametrize(
    "name",
    ["PATH", "PWD", "HOME", "TOKENIZERS_PARALLELISM", "KEYBOARD_LAYOUT", "SSH_AUTH_SOCK", "TERM"],
)
def test_ordinary_names_are_not(name: str) -> None:
    assert not looks_like_credential(name)


def test_the_environment_gives_credential_values_and_secret_env_adds_more() -> None:
    env = {
        "AZURE_API_KEY": KEY,
        "WAREHOUSE_DSN": "postgres://u:p4ssw0rd99@db/x",
        "HOME": "/home/finance-team",
        "SHORT_TOKEN": "abc",
    }
    plain = Redactor.from_environment(env)
    text = f"{KEY} at postgres://u:p4ssw0rd99@db/x from /home/finance-team, abc"
    assert (
        plain.redact(text)
        == f"{REDACTED} at postgres://u:p4ssw0rd99@db/x from /home/finance-team, abc"
    )
    named = Redactor.from_environment(env, ["WAREHOUSE_DSN", "NOT_SET"])
    assert named.redact(text) == f"{REDACTED} at {REDACTED} from /home/finance-team, abc"


# -- by value -----------------------------------------------------------------------------


def test_every_spelling_of_a_value_is_redacted() -> None:
    secret = 'pa"ss\\wörd-90210'
    redactor = Redactor([secret])
    spellings = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "json, not ascii": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json in json": json.dumps(json.dumps(secret)[1:-1])[1:-1],
        "repr": repr(secret)[1:-1],
        "url": quote(secret, safe=""),
    }
    for name, spelling in spellings.items():
        assert redactor.redact(f"<{spelling}>") == f"<{REDACTED}>", name


def test_redacting_json_text_keeps_it_valid_json() -> None:
    secret = 'pa"ss\\word-90210\\'
    redactor = Redactor([secret, "12345678"])
    document = {"note": f"{secret} then {secret}", "cost": 0.12345678, "n": 123456789}
    for text in (json.dumps(document), json.dumps(json.dumps(document)), repr(document)):
        redacted = redactor.redact(text)
        assert secret not in redacted and json.dumps(secret)[1:-1] not in redacted
    redacted = json.loads(redactor.redact(json.dumps(document)))
    assert redacted == {"note": f"{REDACTED} then {REDACTED}", "cost": 0.12345678, "n": 123456789}


def test_a_longer_secret_is_replaced_whole_when_a_shorter_one_starts_it() -> None:
    redactor = Redactor(["abcdefgh", "abcdefgh-and-more"])
    assert redactor.redact("x abcdefgh-and-more y abcdefgh") == f"x {REDACTED} y {REDACTED}"


def test_short_values_are_not_redacted_by_value() -> None:
    assert redactor_for("1234567").redact("order 1234567 is due") == "order 1234567 is due"
    assert redactor_for("12345678").redact("order 12345678 is due") == f"order {REDACTED} is due"


def redactor_for(value: str) -> Redactor:
    return Redactor([value])


def test_lines_of_a_multi_line_secret_and_the_private_key_of_a_json_credential_are_redacted() -> (
    None
):
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    service_account = json.dumps({"type": "service_account", "private_key": pem, "project": "p"})
    redactor = Redactor([service_account])
    assert redactor.redact(f"could not sign with {body}") == f"could not sign with {REDACTED}"
    assert body not in redactor.redact(json.dumps({"key": pem}))


def test_the_shape_rules_still_apply_and_a_value_is_not_redacted_twice() -> None:
    redactor = Redactor([KEY])
    assert redactor.redact(f"api_key={KEY} and sk-{'a' * 20}") == (
        f"api_key={REDACTED} and {REDACTED}"
    )


def test_exactly_four_letters_outside_ascii_match_ascii_ones_case_insensitively() -> None:
    # The premise of `may_hold_shape`'s reading of text outside ASCII.
    letter = re.compile("(?i)[a-z]")
    found = [
        chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000 and letter.match(chr(c))
    ]
    assert found == ["\u0130", "\u0131", "\u017f", "\u212a"]


@pytest.mark.parametrize(
    "text",
    [
        "\u201cnote\u201d api_key=abcdefgh12345678",  # curly quotes beside it
        "ap\u0130_key=abcdefgh12345678",  # dotted capital I
        "ap\u0131_key=abcdefgh12345678",  # dotless i
        "\u017fecret_key=abcdefgh12345678",  # long s
        "pa\u017f\u017fword=abcdefgh12345678",  # long s twice
    ],
)
def test_text_outside_ascii_is_still_seen_to_hold_a_named_secret(text: str) -> None:
    assert redaction.redact_shapes(text) != text  # the rules hit it...
    assert redaction.may_hold_shape(text)  # ...so the quick test must not clear it


def test_text_outside_ascii_without_a_trigger_is_cleared() -> None:
    assert not redaction.may_hold_shape("The summary \u2014 \u201cfine\u201d \u2026 caf\u00e9")


def test_values_are_walked_with_secret_named_keys() -> None:
    redactor = Redactor([KEY])
    assert redactor.value({"access_token": "short", "note": [f"is {KEY}"], "n": 3}) == {
        "access_token": REDACTED,
        "note": [f"is {REDACTED}"],
        "n": 3,
    }


@pytest.mark.parametrize("size", [200, 3 << 20])  # below and above the distinct-lines scan
def test_a_shape_trigger_on_one_line_of_a_document_is_seen(size: int) -> None:
    line = '    "input_tokens": 11,\n'
    filler = line * (size // len(line))
    assert not redaction.may_hold_shape(filler)
    for hit in ('"Authorization": x', "SK-", "passWord", "ghs_"):
        assert redaction.may_hold_shape(filler + hit + "\n" + filler)
        assert redaction.may_hold_shape(filler + hit)  # the last line, no newline
    assert redaction.may_hold_shape(filler + "\u017fecret")  # a long s matches "s"
    assert not redaction.may_hold_shape(filler + "caf\u00e9 \u2026")  # not ASCII, no trigger


def test_a_big_document_is_redacted_where_a_shape_occurs() -> None:
    body = '  {"n": 1},\n' * 200_000
    text = body + f'  {{"api_key": "{KEY}"}}\n' + body
    assert Redactor().redact(text) == body + f'  {{"api_key": "{REDACTED}"}}\n' + body


# -- control characters -------------------------------------------------------------------


def test_control_characters_become_visible_and_layout_stays() -> None:
    hostile = "a\x1b]0;pwned\x07b\x1b[2Jc\rd\x08e\x9bf\u202eg\u2066h\x7fi\tj\nk\r\nl"
    assert neutralise(hostile) == (
        "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x0dd\\x08e\\x9bf\\u202eg\\u2066h\\x7fi\tj\nk\nl"
    )
    assert neutralise("café €5, naïve") == "café €5, naïve"


def test_json_text_keeps_its_value_and_loses_its_raw_controls() -> None:
    value = {"said": "x\x9b2J\u202ey\x1b[31m", "é": "€"}
    text = neutralise_json(json.dumps(value, ensure_ascii=False))
    assert json.loads(text) == value
    assert "\x9b" not in text and "\u202e" not in text and "€" in text


def test_clean_redacts_then_neutralises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_active", Redactor([KEY]))
    assert redaction.clean(f"\x1b[2J{KEY}") == f"\\x1b[2J{REDACTED}"


# -- streams ------------------------------------------------------------------------------


def test_a_stream_redacts_a_secret_written_in_pieces() -> None:
    out = io.StringIO()
    stream = RedactingStream(out, Redactor([KEY]))
    print("key:", KEY[:5], file=stream, end="")  # print writes each piece apart
    stream.write(KEY[5:] + " rejected\n")
    assert out.getvalue() == f"key: {REDACTED} rejected\n"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(KEY) + 12), st.integers(min_value=0, max_value=40))
def test_a_secret_split_across_two_flushed_writes_is_still_caught(cut: int, width: int) -> None:
    text = f"{'·' * width}denied {KEY} (401)\n"
    cut = min(cut + width, len(text))
    out = io.StringIO()
    stream = RedactingStream(out, Redactor([KEY]))
    stream.write(text[:cut])
    stream.flush()  # an unfinished line is passed on, except what could begin the key
    stream.write(text[cut:])
    stream.flush()
    assert out.getvalue() == text.replace(KEY, REDACTED)


def test_an_unfinished_line_is_shown_on_flush_and_everything_on_drain() -> None:
    out = io.StringIO()
    stream = RedactingStream(out, Redactor([KEY]))
    stream.write("progress 3/10")
    stream.flush()
    assert out.getvalue() == "progress 3/10"
    stream.write(" then " + KEY[:6])
    stream.flush()
    assert out.getvalue() == "progress 3/10 then "
    stream.drain()
    assert out.getvalue() == "progress 3/10 then " + KEY[:6]


def test_rich_consoles_write_through_the_stream_with_their_styling() -> None:
    out = io.StringIO()
    stream = RedactingStream(out, Redactor([KEY]))
    console = Console(
        file=stream,  # type: ignore[arg-type]
        force_terminal=True,
        color_system="standard",
        highlight=False,
        width=200,
    )
    console.print(f"[red]error[/red]: 401 for {KEY}")
    assert KEY not in out.getvalue()
    assert f"\x1b[31merror\x1b[0m: 401 for {REDACTED}" in out.getvalue()


def test_the_stream_looks_like_the_one_it_wraps_but_hides_its_byte_buffer() -> None:
    stream = RedactingStream(sys.__stderr__ or io.StringIO(), Redactor())
    assert stream.isatty() == stream.wrapped.isatty()
    assert stream.encoding == stream.wrapped.encoding
    with pytest.raises(AttributeError):
        stream.buffer  # noqa: B018
    with pytest.raises(TypeError):
        stream.write(b"bytes")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="apiseckrtuhfwobgkdzxy_-AKS", max_size=30))
def test_the_trigger_search_finds_exactly_the_texts_holding_a_trigger(text: str) -> None:
    lower = text.lower()
    assert redaction.may_hold_shape(text) == any(t in lower for t in redaction._TRIGGERS)

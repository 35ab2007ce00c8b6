"""The libyaml fast path reads every file exactly as ruamel's pure YAML 1.2 parser does, or defers.

The loader parses with libyaml when it can (several times faster) and with ruamel's pure
parser otherwise. libyaml reads YAML 1.1, so for each document here the fast path must give
the same data, the same positions and the same diagnostics as the pure parser, or hand the
text to the pure parser; and `load_text` must always give the pure parser's result.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agentflow.errors import WorkflowInvalid
from agentflow.loading import load_text, yaml_loader

pytestmark = pytest.mark.skipif(yaml_loader._CParser is None, reason="libyaml not installed")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("AGENTFLOW_PARITY_EXAMPLES", "300"))
PARITY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

Outcome = tuple[Any, ...]


def _canon(value: Any) -> Any:
    """Data in a form that compares exactly: types kept, NaN equal to NaN, order kept."""
    if isinstance(value, dict):
        return ("map", tuple((k, _canon(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("seq", tuple(_canon(v) for v in value))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def _result(build: Any) -> Outcome:
    try:
        doc = build()
    except WorkflowInvalid as exc:
        return ("invalid", tuple(d.render() for d in exc.diagnostics))
    values = {p: (pos.line, pos.column) for p, pos in doc.source.values.items()}
    keys = {p: (pos.line, pos.column) for p, pos in doc.source.keys.items()}
    return ("ok", _canon(doc.data), values, keys)


def pure(text: str) -> Outcome:
    """What ruamel's pure YAML 1.2 parser makes of `text`: the reference."""

    def build() -> Any:
        text_ok = yaml_loader._decode(text, "p.yaml")
        builder = yaml_loader._read_pure(text_ok, yaml_loader._Builder("p.yaml", text_ok))
        return builder.document(Path("p.yaml"))

    return _result(build)


def fast(text: str) -> Outcome | None:
    """What the libyaml path alone makes of `text`, or None when it defers."""
    try:
        decoded = yaml_loader._decode(text, "p.yaml")
    except WorkflowInvalid:
        return pure(text)  # refused before any parser runs: the same for both
    if yaml_loader._needs_pure_parser(decoded):
        return None
    builder = yaml_loader._Builder("p.yaml", decoded)
    if not yaml_loader._read_fast(decoded, builder):
        return None
    return _result(lambda: builder.document(Path("p.yaml")))


def loaded(text: str) -> Outcome:
    return _result(lambda: load_text(text, "p.yaml"))


def assert_parity(text: str) -> bool:
    """The fast path agrees with the pure parser or defers; the loader gives the pure result.

    Returns whether the fast path answered (so tests can check it is not always deferring).
    """
    reference = pure(text)
    answer = fast(text)
    if answer is not None:
        assert answer == reference, f"libyaml and the pure parser disagree on {text!r}"
    assert loaded(text) == reference, f"load_text differs from the pure parser on {text!r}"
    return answer is not None


# -- a hand-written corpus --------------------------------------------------------------------

# Scalars that YAML 1.1 and 1.2 read differently, that libyaml refuses, or that look like syntax.
TRICKY_SCALARS = [
    *("yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF", "True", "TRUE", "false"),
    *("~", "null", "Null", "NULL", "", "0755", "0o755", "0x1F", "0b101", "1_000", "1:30"),
    *("190:20:30", "-1:30", ".inf", "-.inf", "+.INF", ".NaN", ".nan", "1e3", "1.5e+3", "+1"),
    *("-0", "0.", ".5", "1.", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "2002-12-14"),
    *("12:30:00", "=", "<<", "http://127.0.0.1:8000/v1", "openai/gpt-4o-mini", "openai/*"),
    *("a:b", "a: b", "a:", ":a", "a #b", "a#b", "#x", "- x", "-x", "? x", "?x", "[a]", "{a}"),
    *("*x", "&x", "!x", "!!str", "%x", "@x", "`x", "'x'", '"x"', "{{ inputs.x }}", "é"),
    *("😀", "two\nlines", "trailing ", "  leading", "a,b", "a]b", "a}b", "1,000", "$1.00"),
    *("don't", 'say "hi"', "back\\slash", "\\n", "a\u00a0b", "---", "...", "--- x", "0x", "0o"),
    *("1e", "e3", "+", "-", ".", "..", "- ", "key: value: more", "C:\\path", "x: {y: z}"),
    *("[1, 2]", "{a: 1}", "|", ">", "|-", "a\n\nb", "\n", " ", "True ", "1 000", "Ω≈ç"),
]

# Whole documents: the URL case and the YAML 1.1/1.2 differences in every position.
TRICKY_DOCUMENTS = [
    "defaults: {model: openai/gpt-4o-mini, api_base: http://127.0.0.1:8000/v1}\n",
    "defaults:\n  model: openai/gpt-4o-mini\n  api_base: http://127.0.0.1:8000/v1\n",
    "a: [http://x, https://y:8080/z]\n",
    "a: {b:c}\n",
    "a: {x: y:z}\n",
    "a: [1:30, 12:30:00]\n",
    "a: [a: b]\n",
    'a: ["a":b]\n',
    "a: {'a':b}\n",
    "a: yes\nb: on\nc: 0755\nd: 1_000\ne: 1:30\nf: .inf\ng: 2024-01-01\nh: =\n",
    "a: !!str yes\nb: !!int 0o17\nc: !!float 1\nd: !!bool true\ne: !!null ~\n",
    "a: !!str &x b\nc: *x\n",
    "a: &x !!str b\nc: *x\n",
    "%YAML 1.2\n---\na: b\n",
    "%YAML 1.1\n---\na: yes\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!x b\n",
    "base: &b {x: 1}\nother:\n  <<: *b\n",
    "a: 1\na: 2\n",
    "a: b\x85c: d\n",
    "a: b\u2028c\n",
    "a: 'x\u2029y'\nb: c\n",
    "a:\tb\n",
    "a: b\t# c\n",
    "a: x\ty\n",
    "a: |\n  \tindented by a tab\n",
    "a: b\ufeffc\n",
    "a: |#\n  x\n",
    "a: >-#\n  x\n",
    "&a-b x: *a-b\n",
    "&a/b x: 1\nc: *a/b\n",
    "*nope?x: 1\n",
    "\n&3-8?#.a [3!~8\\@:b\n1\n",
    "a: {b: }\n",
    "a:\n---x: y\n",
    "a: \nb: 1\n",
    "a:\n  - \n  -\n  - c\n",
    "a: x\r\nb: y\r\n",
    "a: x\rb: y\r",
    'a: "x\r\n  y"\n',
    "a: |\r\n  x\r\n  y\r\n",
    'a: "\\/\\N\\_\\L\\P\\e\\a\\b\\0\\v\\f\\ \\x41\\u00e9\\U0001F600"\n',
    'a: "\\ud800"\n',
    "? a\n: b\n",
    "? [a, b]\n: c\n",
    "{a: b}\n",
    "k" * 1100 + ": v\n",
    "a: [b, ]\n",
    "a: {: b}\n",
    "a:\n  b: 1\n   c: 2\n",
    "a:\n  b: 1\n c: 2\n",
    "a:\n  - b\n - c\n",
    "a:\n  - b\n   - c\n",
    "a: b\n  c\n",
    "name: x\n---\nname: y\n",
    "a: 1\n...\n",
    "a: 'it''s'\nb: \"say \\\"hi\\\"\"\n",
    "prompt: {{ inputs.text }}\n",
    "a: *b\nb: &b 1\n",
    "é: {ü: 1, b: 2}\n",
    "a:    # comment\n  - x # another\n# last\n",
    "when: \"{{ agents.a.output.status != 'ok' }}\"\nb: x != y\nc: [a !=b]\n",
    "a: x !y\nb: [!y]\n",
]


@pytest.mark.parametrize("text", TRICKY_DOCUMENTS, ids=range(len(TRICKY_DOCUMENTS)))
def test_tricky_documents_read_as_yaml_1_2(text: str) -> None:
    assert_parity(text)


@pytest.mark.parametrize("scalar", TRICKY_SCALARS, ids=range(len(TRICKY_SCALARS)))
def test_tricky_scalars_read_as_yaml_1_2_in_every_context(scalar: str) -> None:
    quoted = json.dumps(scalar)
    single = "'" + scalar.replace("'", "''") + "'"
    indented = scalar.replace("\n", "\n    ")
    for text in (
        f"a: {scalar}\n",
        f"{scalar}: a\n",
        f"a: [{scalar}]\n",
        f"a: [{scalar}, x]\n",
        f"a: {{k: {scalar}}}\n",
        f"a: {{{scalar}: v}}\n",
        f"a:\n  - {scalar}\n",
        f"a:\n  b: {scalar}\n  c: d\n",
        f"a: {quoted}\n",
        f"a: {single}\n",
        f"a: [{quoted}, {single}]\n",
        f"a: |\n    {indented}\n",
        f"a: >-\n    {indented}\n",
        f"a: &x {scalar}\nb: *x\n",
    ):
        assert_parity(text)


def test_the_url_flow_mapping_loads_with_positions() -> None:
    doc = load_text(TRICKY_DOCUMENTS[0], "wf.yaml")
    assert doc.data == {
        "defaults": {"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:8000/v1"}
    }
    api_base = doc.source.value(("defaults", "api_base"))
    assert (api_base.line, api_base.column) == (1, 49)
    assert (doc.source.key(("defaults", "api_base")).column) == 39
    flow_colons = load_text("a: [1:30, a:b]\nb: {x: y:z}\n", "wf.yaml")
    assert flow_colons.data == {"a": ["1:30", "a:b"], "b": {"x": "y:z"}}
    assert flow_colons.source.value(("b", "x")).column == 8


def test_yaml_1_1_only_values_keep_their_1_2_meaning() -> None:
    doc = load_text(TRICKY_DOCUMENTS[9], "wf.yaml")
    assert doc.data == {
        "a": "yes",
        "b": "on",
        "c": 755,
        "d": "1_000",
        "e": "1:30",
        "f": float("inf"),
        "g": "2024-01-01",
        "h": "=",
    }
    assert "merge keys" in loaded(TRICKY_DOCUMENTS[16])[1][0]
    assert "duplicate key 'a'" in loaded(TRICKY_DOCUMENTS[17])[1][0]


def test_a_left_out_value_is_where_its_key_is() -> None:
    for text in ("a: {b: }\n", "a: {b: , c: 1}\n", "a:\n  b:\n  c: 1\n", "a:\n  b: \n"):
        doc = load_text(text, "wf.yaml")
        value, key = doc.source.value(("a", "b")), doc.source.key(("a", "b"))
        assert (value.line, value.column) == (key.line, key.column), text


def test_a_comparison_in_a_template_keeps_the_fast_path() -> None:
    assert assert_parity("when: \"{{ agents.a.output.status != 'ok' }}\"\n")


def test_the_fast_path_reads_the_example_workflows() -> None:
    # The fast path must stay the common path: every shipped example takes it, and agrees.
    for path in sorted((ROOT / "workflows").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert assert_parity(text), f"{path.name} was deferred to the pure parser"


# -- generated documents ----------------------------------------------------------------------

_WORDS = st.sampled_from(
    ["a", "b", "name", "model", "api_base", "x y", "é", "k1", "agents", "<<", "on", "1", "~"]
)
# Wild text has every character that matters to a YAML scanner; tame text only words.
_WILD_TEXT = st.text(
    alphabet=st.sampled_from(list("ab :#-?,[]{}'\"\\!&*%@`|>.~01\n é😀\u00a0\r\t\x85\ufeff")),
    max_size=12,
)
_TAME_TEXT = st.text(alphabet=st.sampled_from(list("abcxyz019_-./ é")), min_size=1, max_size=12)


# The tricky scalars that may be written plain in a block mapping (the rest need quotes).
_PLAIN_SAFE = [
    s
    for s in TRICKY_SCALARS
    if re.fullmatch(r"[^-?:,\[\]{}#&*!|>'\"%@`\s]\S*(?: \S+)*", s)
    and ": " not in s
    and " #" not in s
    and not s.endswith(":")
]


def _scalar_text(wild: bool) -> st.SearchStrategy[str]:
    return st.sampled_from(TRICKY_SCALARS) | (_WILD_TEXT if wild else _TAME_TEXT)


@st.composite
def _scalar(draw: st.DrawFn, block: bool, wild: bool) -> str:
    """A scalar in one of YAML's five styles (possibly an invalid one: both parsers judge)."""
    text = draw(_scalar_text(wild))
    styles = ["plain", "single", "double"] + (["literal", "folded"] if block else [])
    style = draw(st.sampled_from(styles))
    if style == "plain" and not wild:
        text = draw(st.sampled_from(_PLAIN_SAFE) | _TAME_TEXT.map(str.strip).filter(bool))
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    if style == "double":
        escaped = json.dumps(text, ensure_ascii=draw(st.booleans()))
        return escaped.replace("\\n", draw(st.sampled_from(["\\n", "\\n\\\n  "])))
    if style in ("literal", "folded"):
        header = ("|" if style == "literal" else ">") + draw(st.sampled_from(["", "-", "+", "2"]))
        body = "".join("\n  " + line for line in (text or "x").split("\n"))
        return header + body  # the renderer re-indents this
    return text.replace("\n", " ")


class _Doc:
    """Renders a random node tree as YAML text, block and flow styles mixed."""

    def __init__(self, draw: st.DrawFn, wild: bool) -> None:
        self.draw = draw
        self.wild = wild
        self.anchors: list[str] = []

    def props(self) -> str:
        draw = self.draw
        out = ""
        if draw(st.integers(0, 9)) == 0:
            name = f"a{len(self.anchors)}"
            self.anchors.append(name)
            out += f"&{name} "
        if draw(st.integers(0, 14 if self.wild else 40)) == 0:
            out += draw(st.sampled_from(["!!str ", "!!map ", "!!seq ", "! ", "!!int "]))
        return out

    def alias(self) -> str | None:
        if self.anchors and self.draw(st.integers(0, 7)) == 0:
            return "*" + self.draw(st.sampled_from(self.anchors))
        return None

    def key(self) -> str:
        draw = self.draw
        word = draw(_WORDS | _scalar_text(self.wild).map(lambda t: t.replace("\n", " ")))
        return draw(st.sampled_from([word, json.dumps(word), "'" + word.replace("'", "''") + "'"]))

    def flow(self, depth: int) -> str:
        draw = self.draw
        alias = self.alias()
        if alias:
            return alias
        kind = draw(
            st.sampled_from(["scalar", "scalar", "map", "seq"] if depth < 3 else ["scalar"])
        )
        if kind == "scalar":
            return self.props() + draw(_scalar(block=False, wild=self.wild))
        sep = draw(st.sampled_from([", ", ",", ",\n  ", " , "]))
        count = draw(st.integers(0, 3))
        if kind == "seq":
            items = [self.flow(depth + 1) for _ in range(count)]
            return self.props() + "[" + sep.join(items) + "]"
        pairs = []
        for _ in range(count):
            value = self.flow(depth + 1) if draw(st.integers(0, 5)) else ""
            colon = draw(st.sampled_from([": ", ": ", ":", " : "]))
            pairs.append(self.key() + colon + value)
        return self.props() + "{" + sep.join(pairs) + "}"

    def block(self, depth: int, indent: int) -> str:
        """A node that follows `key:` or `-`: either inline text or lines indented below."""
        draw = self.draw
        alias = self.alias()
        if alias:
            return " " + alias
        kinds = ["scalar", "flow", "map", "seq", "empty"] if depth < 4 else ["scalar", "flow"]
        kind = draw(st.sampled_from(kinds))
        if kind == "empty":
            return draw(st.sampled_from(["", " ", "  # nothing"]))
        if kind == "flow":
            return " " + self.flow(depth)
        if kind == "scalar":
            text = draw(_scalar(block=True, wild=self.wild))
            pad = " " * (indent + draw(st.sampled_from([1, 2, 4])))
            return " " + self.props() + text.replace("\n  ", "\n" + pad)
        step = draw(st.sampled_from([1, 2, 2, 4]))
        child = indent + step
        if kind == "seq" and draw(st.booleans()):
            child = indent  # `key:\n- item`: a sequence may sit at its key's indentation
        props = self.props().rstrip()
        head = (" " + props) if props else ""
        return head + self.lines(kind, depth + 1, child)

    def lines(self, kind: str, depth: int, indent: int) -> str:
        draw = self.draw
        pad = " " * indent
        out = ""
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.integers(0, 6)) == 0:
                out += "\n" + draw(st.sampled_from(["", pad + "# comment", "#", pad]))
            if kind == "seq":
                out += "\n" + pad + "-" + self.block(depth, indent + 2)
            else:
                out += "\n" + pad + self.key() + ":" + self.block(depth, indent)
            if draw(st.integers(0, 5)) == 0:
                out += " # trailing"
        return out


@st.composite
def documents(draw: st.DrawFn, *, wild: bool = True) -> str:
    doc = _Doc(draw, wild)
    text = doc.lines("map", 0, 0).lstrip("\n") + "\n"
    if draw(st.integers(0, 9)) == 0:
        text = "---\n" + text
    if draw(st.integers(0, 9)) == 0:
        text = text.replace("\n", "\r\n")
    return text


@PARITY
@given(documents(wild=True) | documents(wild=False))
def test_generated_documents_read_as_yaml_1_2(text: str) -> None:
    assert_parity(text)


@PARITY
@given(documents(wild=False))
def test_generated_workflow_like_documents_mostly_take_the_fast_path(text: str) -> None:
    # Documents without the features that need the pure parser must not be deferred for
    # nothing: when both parsers accept them, libyaml answers.
    assume(not yaml_loader._needs_pure_parser(text))
    reference = pure(text)
    assume(reference[0] == "ok")
    answer = fast(text)
    if answer is None:
        # libyaml refuses some YAML 1.2 (colons in flow scalars); nothing else.
        assert ":" in text, f"deferred for no known reason: {text!r}"
    else:
        assert answer == reference


@PARITY
@given(st.lists(_scalar_text(wild=True), min_size=1, max_size=8))
def test_scalar_soup_reads_as_yaml_1_2(parts: list[str]) -> None:
    assert_parity("a: " + " ".join(parts) + "\n")
    assert_parity("- " + "\n- ".join(parts) + "\n")
    assert_parity("{" + ", ".join(parts) + "}\n")


@pytest.mark.parametrize("text", ["{? }\n", "? \n: x\n", "a:\n  ? \n  : 1\n"])
def test_an_empty_key_is_reported_where_the_pure_parser_points(text: str) -> None:
    # libyaml marks an empty key at the next token, ruamel right after `?`: the message
    # of an invalid file is always the reference parser's.
    reference = pure(text)
    assert reference[0] == "invalid"
    assert fast(text) is None
    assert loaded(text) == reference

"""Explain a YAML syntax error that comes from bad indentation, in plain words.

A parser reports a misindented key as "mapping values are not allowed here" or "expected
<block end>, but found '<block mapping start>'". `explain()` looks at the lines around the
error instead and, when the cause is the indentation, says which line is off and what it
should line up with:

    >>> text = "agents:\\n  a:\\n    prompt: x\\n   model: y\\n"
    >>> explain(text, 4, found="block end").message
    "bad indentation: 'model:' at line 4 is indented 3 spaces, which lines up with nothing above it: 'prompt:' (line 3) is indented 4 and 'a:' (line 2) 2; indent it like the lines it belongs with"

Only text is read here: no parser, no third-party import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Found = Literal["colon", "block end"]

_KEY = re.compile(
    r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\-?:,\[\]{}][^#]*?|-[^\s#])\s*:(?:\s|$)"""
)
_ITEM = re.compile(r"-(?:\s|$)")
_HEAD_WIDTH = 30


@dataclass(frozen=True, slots=True)
class Explanation:
    """Where the misindented line starts, and what to tell the user about it."""

    line: int
    column: int
    message: str


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based
    indent: int
    content: str  # without the indentation

    @property
    def is_item(self) -> bool:
        return _ITEM.match(self.content) is not None

    @property
    def key(self) -> str | None:
        found = _KEY.match(self.content)
        return found.group(0).rstrip() if found else None

    @property
    def head(self) -> str:
        """How the line is named in a message: its key (`model:`), or its first words."""
        text = self.content if self.is_item else (self.key or self.content)
        text = text.split(" #")[0].rstrip()
        return text if len(text) <= _HEAD_WIDTH else text[: _HEAD_WIDTH - 1] + "…"

    @property
    def opens_block(self) -> bool:
        """Whether what follows may be indented more: `key:`, `- `, `key: |` and the like."""
        rest = self.content
        if self.is_item:
            rest = rest[1:].strip()
            if not rest:
                return True
        key = _KEY.match(rest)
        if key is not None:
            rest = rest[key.end() :]
        value = rest.split(" #")[0].strip()
        return not value or value[0] in "|>&!" or (key is None and self.is_item)


def explain(text: str, line: int, *, found: Found) -> Explanation | None:
    """Why line `line` (1-based) of `text` is a syntax error, if its indentation is the cause.

    `found` says what the parser saw: a `colon` where a mapping value is not allowed (a key
    indented more than its siblings reads as the continuation of the value above it), or an
    unexpected `block end` (a line that lines up with no block above it, or a list item among
    keys). None when the indentation looks right, so the parser's own message stands.
    """
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    here = _parse(lines, line)
    if here is None or "\t" in lines[line - 1][: here.indent + 1]:
        return None
    above = _content_lines_above(lines, line)
    if not above:
        return None
    if found == "colon":
        return _deeper_than_its_siblings(here, above)
    return _misaligned(here, above)


def _deeper_than_its_siblings(here: _Line, above: list[_Line]) -> Explanation | None:
    previous = above[0]
    if here.key is None or here.indent <= previous.indent or previous.opens_block:
        return None
    if previous.key is None and not previous.is_item:
        return None  # a continued plain text: the colon is in the text, not a key
    what = "key" if previous.key is not None else "item"
    message = (
        f"bad indentation: '{here.head}' at line {here.number} is indented "
        f"{_spaces(here.indent)}, more than the {what} above it ('{previous.head}' at line "
        f"{previous.number}, {_spaces(previous.indent)}), so it reads as the rest of that "
        f"value; {_indent_to(previous.indent)} like its siblings (or, if ': ' is part of "
        "the text, put the value in quotes)"
    )
    return Explanation(here.number, here.indent + 1, message)


def _misaligned(here: _Line, above: list[_Line]) -> Explanation | None:
    previous = above[0]
    outer = next((c for c in above if c.indent < here.indent), None)
    same = _sibling(here, above)
    if same is not None:
        if here.is_item == same.is_item:
            return None
        if here.is_item:
            message = (
                f"bad indentation: the list item '{here.head}' at line {here.number} is "
                f"indented like the key '{same.head}' (line {same.number}); a block holds "
                "either keys or list items: indent the list under a key"
            )
        else:
            message = (
                f"bad indentation: '{here.head}' at line {here.number} is indented like the "
                f"list item '{same.head}' (line {same.number}); a block holds either keys or "
                f"list items: indent it under the item, past the '- ', or start it with '- '"
            )
        return Explanation(here.number, here.indent + 1, message)
    if previous.indent <= here.indent and not (outer is None and previous.indent == here.indent):
        return None  # deeper than the line above: not an alignment problem
    candidates = [f"'{previous.head}' (line {previous.number}) is indented {previous.indent}"]
    if outer is not None:
        candidates.append(f"'{outer.head}' (line {outer.number}) {outer.indent}")
    message = (
        f"bad indentation: '{here.head}' at line {here.number} is indented "
        f"{_spaces(here.indent)}, which lines up with nothing above it: "
        f"{' and '.join(candidates)}; indent it like the lines it belongs with"
    )
    return Explanation(here.number, here.indent + 1, message)


def _sibling(here: _Line, above: list[_Line]) -> _Line | None:
    """The nearest line above at the same indentation, with nothing shallower in between."""
    for candidate in above:
        if candidate.indent < here.indent:
            return None
        if candidate.indent == here.indent:
            return candidate
    return None


def _parse(lines: list[str], number: int) -> _Line | None:
    raw = lines[number - 1].rstrip("\r")
    content = raw.lstrip(" ")
    if not content or content.startswith("#"):
        return None
    return _Line(number, len(raw) - len(content), content)


def _content_lines_above(lines: list[str], number: int) -> list[_Line]:
    """The non-blank, non-comment lines above line `number`, nearest first."""
    out: list[_Line] = []
    for earlier in range(number - 1, 0, -1):
        parsed = _parse(lines, earlier)
        if parsed is not None:
            out.append(parsed)
    return out


def _indent_to(count: int) -> str:
    return f"indent it {_spaces(count)}" if count else "remove its indentation"


def _spaces(count: int) -> str:
    return f"{count} space" if count == 1 else f"{count} spaces"

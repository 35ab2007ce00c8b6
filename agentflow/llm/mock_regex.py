"""Strings that match a JSON Schema `pattern`, for `--mock`: a generator for the usual subset.

Covers what people write in schemas: anchors `^ $`, literals and escapes, `.`, classes
(`[A-Z0-9_-]`, `[^,]`), `\\d \\w \\s` and their negations, groups (`(...)`, `(?:...)`,
`(?P<name>...)`, `(?<name>...)`), alternation and the quantifiers `? * + {n} {n,} {n,m}`
(lazy or not). Anything else (lookarounds, back references, `\\b`) raises `Unsupported`,
so the caller can try other candidates and say clearly when none matches.

    >>> import random
    >>> compile_pattern("^INV-[0-9]{4}$").sample(random.Random(1))
    'INV-2914'
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Pattern", "Unsupported", "compile_pattern"]

_PRINTABLE = [(0x20, 0x7E)]
_DIGITS = [(0x30, 0x39)]
_WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_SPACE = [(0x20, 0x20)]
_SPACES = [(0x09, 0x0D), (0x20, 0x20)]  # what \s matches, for negation
_DOT = [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)]  # `.`: any character; letters read best
_ESCAPED_CHARS = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
_MAX_EXTRA = 3  # how far past its minimum an open quantifier (`*`, `+`, `{n,}`) goes


class Unsupported(ValueError):
    """Raised when a pattern uses more than the generator knows (the message says what)."""


Ranges = list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class _Chars:
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Alt:
    branches: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Repeat:
    node: _Node
    low: int
    high: int | None


_Node = _Chars | _Seq | _Alt | _Repeat


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed pattern; `sample()` gives a string that the pattern matches whole."""

    source: str
    tree: _Node

    def sample(self, rng: random.Random, *, extra: int = _MAX_EXTRA) -> str:
        """A matching string; `extra` bounds repetitions past each open quantifier's minimum."""
        out: list[str] = []
        _emit(self.tree, rng, out, extra)
        return "".join(out)


def compile_pattern(source: str) -> Pattern:
    """Parse `source`; raises `Unsupported` for what the generator cannot produce."""
    parser = _Parser(source)
    tree = parser.alternation()
    if parser.pos != len(source):
        raise Unsupported(f"unbalanced ')' at offset {parser.pos}")
    return Pattern(source, tree)


def _emit(node: _Node, rng: random.Random, out: list[str], extra: int) -> None:
    if isinstance(node, _Chars):
        out.append(chr(_pick(node.ranges, rng)))
    elif isinstance(node, _Seq):
        for item in node.items:
            _emit(item, rng, out, extra)
    elif isinstance(node, _Alt):
        _emit(rng.choice(node.branches), rng, out, extra)
    else:
        high = node.high if node.high is not None else node.low + extra
        for _ in range(rng.randint(node.low, max(node.low, high))):
            _emit(node.node, rng, out, extra)


def _pick(ranges: tuple[tuple[int, int], ...], rng: random.Random) -> int:
    total = sum(hi - lo + 1 for lo, hi in ranges)
    index = rng.randrange(total)
    for lo, hi in ranges:
        size = hi - lo + 1
        if index < size:
            return lo + index
        index -= size
    raise AssertionError("unreachable")  # pragma: no cover


def _complement(ranges: Ranges) -> Ranges:
    """Printable ASCII characters not in `ranges`."""
    wanted = [c for c in range(0x20, 0x7F) if not any(lo <= c <= hi for lo, hi in ranges)]
    return [(c, c) for c in wanted]


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0

    def peek(self) -> str:
        return self.source[self.pos] if self.pos < len(self.source) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise Unsupported("the pattern ends in the middle of a construct")
        self.pos += 1
        return char

    def alternation(self) -> _Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else _Alt(tuple(branches))

    def sequence(self) -> _Node:
        items: list[_Node] = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            if atom is None:  # an anchor: nothing to emit
                continue
            items.append(self.quantified(atom))
        return _Seq(tuple(items))

    def atom(self) -> _Node | None:
        char = self.take()
        if char in "^$":
            return None
        if char == "(":
            return self.group()
        if char == "[":
            return _Chars(tuple(self.char_class()))
        if char == ".":
            return _Chars(tuple(_DOT))
        if char == "\\":
            return _Chars(tuple(self.escape(in_class=False)))
        if char in "*+?":
            raise Unsupported(f"nothing to repeat before '{char}'")
        if char == "{" and self.quantifier_at(self.pos):
            raise Unsupported("nothing to repeat before '{'")
        return _Chars(((ord(char), ord(char)),))

    def group(self) -> _Node:
        if self.peek() == "?":
            self.pos += 1
            kind = self.take()
            if kind == ":":
                pass
            elif (kind == "P" and self.peek() == "<") or (kind == "<" and self.peek() not in "=!"):
                end = self.source.find(">", self.pos)
                if end < 0:
                    raise Unsupported("a group name is not closed with '>'")
                self.pos = end + 1
            else:
                raise Unsupported(f"'(?{kind}' (lookarounds, flags and the like)")
        inner = self.alternation()
        if self.take() != ")":
            raise Unsupported("a group is not closed")  # pragma: no cover - take() raises
        return inner

    def quantifier_at(self, start: int) -> bool:
        """Whether `{n}`, `{n,}` or `{n,m}` follows the '{' just before `start`."""
        rest = self.source[start:]
        end = rest.find("}")
        if end < 0:
            return False
        body = rest[:end]
        low, _, high = body.partition(",")
        return low.isdigit() and (not high or high.isdigit())

    def quantified(self, atom: _Node) -> _Node:
        while True:
            char = self.peek()
            if char == "*":
                low, high = 0, None
            elif char == "+":
                low, high = 1, None
            elif char == "?":
                low, high = 0, 1
            elif char == "{" and self.quantifier_at(self.pos + 1):
                end = self.source.index("}", self.pos)
                body = self.source[self.pos + 1 : end]
                first, comma, last = body.partition(",")
                low = int(first)
                high = int(last) if last else (None if comma else low)
                if high is not None and high < low:
                    raise Unsupported(f"quantifier {{{body}}} has its bounds reversed")
                self.pos = end
            else:
                return atom
            self.pos += 1
            if self.peek() in ("?", "+"):  # lazy or possessive: the same strings match
                self.pos += 1
            atom = _Repeat(atom, low, high)

    def escape(self, *, in_class: bool) -> Ranges:
        char = self.take()
        if char == "d":
            return list(_DIGITS)
        if char == "w":
            return list(_WORD)
        if char == "s":
            return list(_SPACE)
        if char == "D":
            return _complement(_DIGITS)
        if char == "W":
            return _complement(_WORD)
        if char == "S":
            return _complement(_SPACES)
        if char in _ESCAPED_CHARS:
            code = ord(_ESCAPED_CHARS[char])
            return [(code, code)]
        if char in "xu":
            width = 2 if char == "x" else 4
            digits = self.source[self.pos : self.pos + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise Unsupported(f"'\\{char}' needs {width} hex digits")
            self.pos += width
            code = int(digits, 16)
            return [(code, code)]
        if char.isalnum() and not (in_class and char == "b"):
            raise Unsupported(f"'\\{char}' (word boundaries, back references and the like)")
        code = 0x08 if char == "b" else ord(char)
        return [(code, code)]

    def char_class(self) -> Ranges:
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        ranges: Ranges = []
        first = True
        while True:
            char = self.take()
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                found = self.escape(in_class=True)
            elif char == "[" and self.peek() == ":":
                raise Unsupported("POSIX classes such as [:alpha:]")
            else:
                found = [(ord(char), ord(char))]
            if (
                len(found) == 1
                and found[0][0] == found[0][1]
                and self.peek() == "-"
                and self.source[self.pos + 1 : self.pos + 2] not in ("]", "")
            ):
                self.pos += 1
                end_char = self.take()
                end = (
                    self.escape(in_class=True)
                    if end_char == "\\"
                    else [(ord(end_char), ord(end_char))]
                )
                if len(end) != 1 or end[0][0] != end[0][1] or end[0][0] < found[0][0]:
                    raise Unsupported("a character range out of order")
                ranges.append((found[0][0], end[0][0]))
            else:
                ranges.extend(found)
        if negate:
            ranges = _complement(ranges)
        if not ranges:
            raise Unsupported("a character class that matches nothing printable")
        return ranges

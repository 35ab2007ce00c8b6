"""Read a workflow file into a `Document`: plain data plus the position of every key and value.

This is the only module that imports ruamel.yaml, and the one place its errors become
`WorkflowInvalid`. It reads parser *events* and builds the data itself in one iterative pass.
The events come from ruamel's pure-Python parser, which reads YAML 1.2, or, when it is
installed and the text has nothing it reads differently (`_PURE_ONLY`), from the faster libyaml
C parser (YAML 1.1); whatever libyaml refuses is read again by the pure parser, so the result
and every message are YAML 1.2's. It decides everything that matters for safety and messages:

- scalars follow the YAML 1.2 core schema (`agentflow.loading.scalars`), whichever parser ran;
- duplicate keys, non-string keys, unknown tags and merge keys are reported with positions;
- nesting depth is bounded without recursion (deep input cannot overflow the stack);
- a syntax error caused by indentation is said in plain words (`agentflow.loading.indentation`);
- aliases are expanded with a running count of the nodes they add, so a "billion laughs"
  document is refused after a bounded amount of work instead of exhausting memory.

    >>> doc = load_text("version: 1\\nname: demo\\n", "demo.yaml")
    >>> doc.data, doc.source.value(("name",)).line
    ({'version': 1, 'name': 'demo'}, 2)
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from agentflow.errors import Diagnostic, WorkflowInvalid
from agentflow.loading import indentation, scalars
from agentflow.loading.document import Document
from agentflow.model.types import KeyPath, Position, SourceMap, format_path

try:  # libyaml: about five times faster than the pure-Python parser on large files
    from ruamel.yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on what is installed
    _CParser = None

MAX_FILE_BYTES: Final = 5 * 1024 * 1024
"""Largest workflow file accepted, in bytes (5 MiB): far above any real workflow."""

MAX_DEPTH: Final = 100
"""Deepest nesting of mappings and lists accepted (output schemas rarely pass 10)."""

ALIAS_NODES_FREE: Final = 100_000
"""Aliases may always add this many nodes to the document..."""

ALIAS_NODES_RATIO: Final = 10
"""...and beyond that, at most this many times the nodes actually written in the file..."""

MAX_ALIAS_NODES: Final = 1_000_000
"""...and never more than this many in all."""

_FORBIDDEN_CHAR = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEMPLATE_MESSAGE = 'a template that starts a value must be put in quotes: write "{{ ... }}"'
_KIND = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}


def load_document(path: Path | str) -> Document:
    """Read and parse the workflow file at `path`.

    Raises `WorkflowInvalid` for every problem, including a missing or unreadable file;
    diagnostics name the file exactly as `path` was given.
    """
    name = str(path)
    file = Path(path)
    try:
        info = file.stat()
        if stat.S_ISDIR(info.st_mode):
            raise _invalid(name, f"'{name}' is a directory, not a workflow file")
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
            raise _invalid(name, _too_large(info.st_size))
        with file.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise _invalid(name, f"file not found: '{name}'") from None
    except IsADirectoryError:
        raise _invalid(name, f"'{name}' is a directory, not a workflow file") from None
    except PermissionError:
        raise _invalid(name, f"cannot read '{name}': permission denied") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _invalid(name, f"cannot read '{name}': {reason}") from None
    return _load(raw, name, file)


def load_text(text: str | bytes, name: str) -> Document:
    """Parse workflow YAML given as text or bytes; `name` is used in positions and messages."""
    return _load(text, name, Path(name))


def _load(raw: str | bytes, name: str, path: Path) -> Document:
    text = _decode(raw, name)
    if _CParser is not None and not _needs_pure_parser(text):
        builder = _Builder(name, text)
        if _read_fast(text, builder):
            return builder.document(path)
    return _read_pure(text, _Builder(name, text)).document(path)


# libyaml reads YAML 1.1, ruamel's pure parser YAML 1.2. Where they may read the same text
# differently and libyaml does not refuse it outright, only the pure parser is asked. Such
# files are rare, so nearly every file keeps the fast path; tests/loading/test_parity.py
# compares the two parsers over generated documents and holds this list true.
_PURE_ONLY = re.compile(
    r"""
      [\t\x85\u2028\u2029\ufeff]  # tabs (libyaml takes them where ruamel does not); NEL, LS
                                # and PS (line breaks in YAML 1.1 only); a BOM past the start
    | ^%                        # a directive: libyaml marks the document start elsewhere
    | (?:^|[\s,\[\]{}]) !(?!=)   # a tag (not `!=`): libyaml marks a node at its first
                                # property, ruamel at its last
    | (?:^|[\s,\[\]{}]) [&*] [0-9A-Za-z_-]* [^0-9A-Za-z_\s,\[\]{}-]
                                # an anchor or alias name with more than libyaml's letters
    | ["']:\S                   # a quoted key and ':' with no space (`["a":b]`: ruamel refuses)
    | [|>][0-9+-]*\#            # a block scalar header and '#' with no space (ruamel refuses)
    """,
    re.MULTILINE | re.VERBOSE,
)


# Every branch of `_PURE_ONLY` needs one of these; looking for them is a fast scan of the
# text, the pattern a slow one (a sixth of `plan`'s time on a 20,000-agent file).
_PURE_ONLY_NEEDS = (
    "\t",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "%",
    "!",
    "&",
    "*",
    '":',
    "':",
    "|",
    ">",
)


def _needs_pure_parser(text: str) -> bool:
    if not any(needed in text for needed in _PURE_ONLY_NEEDS):
        return False
    return _PURE_ONLY.search(text) is not None


def _read_fast(text: str, builder: _Builder) -> bool:
    """Feed libyaml's events to `builder`; False when libyaml refused the text, or the
    builder found it invalid.

    A refusal is never reported: whatever libyaml cannot read, the pure parser decides
    (YAML 1.2 accepts `{api_base: http://127.0.0.1:8000/v1}`, libyaml does not), so the
    result and every message are the pure parser's. An invalid document is read again by
    the pure parser too: the two mark some nodes at different columns (an empty key in
    `{? }`), and a message must point where the reference parser points. Only files with
    mistakes pay for the second read.
    """
    parser = _CParser(text)
    get_event = parser.get_event
    feed = builder.feed
    try:
        while True:
            try:
                event = get_event()
            except Exception:  # any refusal defers to the pure parser
                return False
            feed(event)
            if type(event) is StreamEndEvent:
                return not builder.diagnostics
    except _Stop:  # the builder refused what libyaml read so far: the pure parser says why
        return False
    finally:
        parser.dispose()


def _read_pure(text: str, builder: _Builder) -> _Builder:
    """Feed ruamel's pure-Python (YAML 1.2) events to `builder`, recording a syntax error."""
    name = builder.name
    try:
        for event in YAML(typ="safe", pure=True).parse(text):
            builder.feed(event)
    except _Stop:
        pass
    except YAMLError as exc:
        builder.diagnostics.append(_syntax_error(exc, name, text))
    except Exception as exc:  # a parser bug must still read as a message, not a traceback
        builder.diagnostics.append(_diag(name, 1, 1, f"could not parse the YAML: {exc}"))
    return builder


# -- reading and decoding ---------------------------------------------------------------------


def _decode(raw: str | bytes, name: str) -> str:
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            raise _invalid(name, _too_large(len(raw)))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WorkflowInvalid([_not_utf8(raw, exc.start, name)]) from None
    else:
        text = raw
        if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > (
            MAX_FILE_BYTES
        ):
            raise _invalid(name, _too_large(len(text.encode("utf-8", "surrogatepass"))))
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = _FORBIDDEN_CHAR.search(text)
    if bad:
        line, column = _line_column(text, bad.start())
        code = ord(bad.group())
        raise WorkflowInvalid(
            [
                _diag(
                    name,
                    line,
                    column,
                    f"character U+{code:04X} is not allowed in a YAML file; remove it "
                    "(write it as an escape such as \\x07 inside a double-quoted string)",
                    code="yaml",
                )
            ]
        )
    if not text.strip():
        raise _invalid(name, "empty workflow file")
    return text


def _not_utf8(raw: bytes, offset: int, name: str) -> Diagnostic:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
    return _diag(
        name,
        line,
        column,
        f"the file is not valid UTF-8: byte 0x{raw[offset]:02x} at offset {offset} "
        f"(line {line}) cannot be decoded; save the file as UTF-8",
        code="encoding",
    )


def _too_large(size: int) -> str:
    return (
        f"the file is too large ({size:,} bytes); workflow files are limited to "
        f"{MAX_FILE_BYTES // (1024 * 1024)} MiB"
    )


def _line_column(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _diag(
    name: str, line: int, column: int, message: str, *, path: KeyPath = (), code: str = "yaml"
) -> Diagnostic:
    return Diagnostic(name, line, column, format_path(path), message, code=code)


def _invalid(name: str, message: str) -> WorkflowInvalid:
    return WorkflowInvalid([_diag(name, 1, 1, message, code="file")])


def _syntax_error(exc: YAMLError, name: str, text: str) -> Diagnostic:
    if not isinstance(exc, MarkedYAMLError):
        position = getattr(exc, "position", None)
        line, column = _line_column(text, position) if isinstance(position, int) else (1, 1)
        return _diag(name, line, column, f"YAML error: {exc}")
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = (exc.problem or "invalid YAML").strip()
    message = f"YAML syntax error: {problem}"
    context_mark = exc.context_mark
    if exc.context:
        where = ""
        if context_mark is not None and (context_mark.line + 1, context_mark.column + 1) != (
            line,
            column,
        ):
            where = f" at line {context_mark.line + 1}, column {context_mark.column + 1}"
        message += f" ({exc.context.strip()}{where})"
    char = _char_at(text, line, column)
    if char != "\t":
        found = _INDENTATION_CLUES.get(_clue(problem))
        explained = indentation.explain(text, line, found=found) if found else None
        if explained is not None:
            return _diag(name, explained.line, explained.column, explained.message)
    if char == "\t":
        message = "YAML syntax error: a tab cannot indent YAML; use spaces"
    elif "mapping values are not allowed" in problem:
        message += "; if the value contains ': ', put it in quotes"
    elif "cannot start any token" in problem and char:
        message += f"; a value starting with '{char}' must be put in quotes"
    return _diag(name, line, column, message)


# What a parser says when a line is indented wrong, by the start of its problem text.
_INDENTATION_CLUES: Final[dict[str, indentation.Found]] = {
    "mapping values are not allowed": "colon",
    "expected <block end>": "block end",
    "expected '<document start>'": "block end",
    "did not find expected key": "block end",
    "did not find expected '-'": "block end",
}


def _clue(problem: str) -> str:
    return next((clue for clue in _INDENTATION_CLUES if problem.startswith(clue)), "")


def _char_at(text: str, line: int, column: int) -> str:
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    index = start + column - 1
    return text[index] if index < len(text) and text[index] != "\n" else ""


# -- building data and positions from events --------------------------------------------------


class _Stop(Exception):
    """Stops reading events after a problem that makes the rest meaningless."""


class _NoKey:
    """Marks a mapping that is waiting for its next key."""


_NO_KEY: Final = _NoKey()


class _Frame:
    __slots__ = (
        "anchor",
        "container",
        "depth",
        "key",
        "key_at",
        "kstart",
        "path",
        "seen",
        "vstart",
    )

    def __init__(
        self,
        container: dict[str, Any] | list[Any],
        path: KeyPath,
        anchor: str | None,
        vstart: int,
        kstart: int,
    ) -> None:
        self.container = container
        self.path = path
        self.anchor = anchor
        self.vstart = vstart
        self.kstart = kstart
        self.key: str | _NoKey = _NO_KEY
        self.key_at: tuple[int, int] = (1, 1)
        self.seen: dict[str, int] = {}


class _Anchor:
    __slots__ = ("height", "keys", "path", "size", "value", "values")

    def __init__(
        self,
        value: Any,
        path: KeyPath,
        values: list[tuple[KeyPath, int, int]],
        keys: list[tuple[KeyPath, int, int]],
    ) -> None:
        self.value = value
        self.path = path
        self.values = values
        self.keys = keys
        self.size = len(values)
        self.height = max(len(p) for p, _, _ in values) - len(path)


class _Positions(Mapping[KeyPath, Position]):
    """Key path -> Position, made on demand (a large file has hundreds of thousands)."""

    __slots__ = ("_file", "_marks")

    def __init__(self, file: str, marks: dict[KeyPath, tuple[int, int]]) -> None:
        self._file = file
        self._marks = marks

    def __getitem__(self, path: KeyPath) -> Position:
        line, column = self._marks[path]
        return Position(self._file, line, column)

    def __contains__(self, path: object) -> bool:
        return path in self._marks

    def __iter__(self) -> Iterator[KeyPath]:
        return iter(self._marks)

    def __len__(self) -> int:
        return len(self._marks)


class _Builder:
    """Turns parser events into plain data, positions and diagnostics."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self._lines: list[str] | None = None
        self.diagnostics: list[Diagnostic] = []
        self.stack: list[_Frame] = []
        self.values: list[tuple[KeyPath, int, int]] = []
        self.keys: list[tuple[KeyPath, int, int]] = []
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.root: Any = None
        self.root_empty = False
        self.documents = 0
        self.alias_nodes = 0

    # The dispatch is on the exact event class: this loop runs once per node of the file.
    def feed(self, event: Any) -> None:
        kind = type(event)
        mark = event.start_mark
        if kind is ScalarEvent:
            self.scalar(event, mark.line + 1, mark.column + 1)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            self.start(event, kind is MappingStartEvent, mark.line + 1, mark.column + 1)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            self.end()
        elif kind is AliasEvent:
            self.alias(event.anchor, mark.line + 1, mark.column + 1)
        elif kind is DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                self.fatal(
                    mark.line + 1,
                    mark.column + 1,
                    "a workflow file holds one YAML document, but a second one starts here; "
                    "remove the '---' or split the file",
                )

    def _block_start(self, line: int, column: int) -> tuple[int, int]:
        if self._lines is None:
            self._lines = self.text.splitlines()
        if line < len(self._lines):  # the 1-based next line is index `line`
            content = self._lines[line]
            stripped = content.lstrip(" ")
            if stripped:
                return line + 1, len(content) - len(stripped) + 1
        return line, column

    def fatal(self, line: int, column: int, message: str, path: KeyPath = ()) -> None:
        self.diagnostics.append(_diag(self.name, line, column, message, path=path))
        raise _Stop

    def error(self, line: int, column: int, message: str, path: KeyPath = ()) -> None:
        self.diagnostics.append(_diag(self.name, line, column, message, path=path))

    # -- nodes --

    def scalar(self, event: Any, line: int, column: int) -> None:
        tag = event.tag
        text: str = event.value
        plain = event.implicit[0] and tag is None
        value: scalars.Scalar
        if tag is None or tag == scalars.NON_SPECIFIC:
            value = scalars.resolve_plain(text) if plain else text
        elif tag in scalars.SCALAR_TAGS:
            try:
                value = scalars.construct_tagged(tag, text)
            except ValueError as exc:
                self.error(line, column, f"{exc}, as its tag {scalars.short_tag(tag)} requires")
                value = text
        else:
            self.error(line, column, _tag_message(tag, "a scalar"))
            value = text
        if event.anchor is not None:  # only its value is reused: no path needed
            self.anchors[event.anchor] = _Anchor(value, (), [((), line, column)], [])
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.key is _NO_KEY and type(frame.container) is dict:
            self.take_key(frame, value, line, column, plain=plain)
            return
        if frame is None:
            self.root_empty = plain and text == ""
        elif plain and text == "" and event.anchor is None and type(frame.container) is dict:
            # A value left out (`key:`): parsers disagree on where the nothing is, so it is
            # where its key is.
            line, column = frame.key_at
        if event.style in ("|", ">"):
            # A block scalar's text starts on the line after its '|' or '>' indicator; point
            # there, so a line inside the text is found by adding to it.
            line, column = self._block_start(line, column)
        path = self.place(frame, value, line, column)
        self.values.append((path, line, column))

    def start(self, event: Any, is_map: bool, line: int, column: int) -> None:
        tag = event.tag
        if (
            tag is not None
            and tag != scalars.NON_SPECIFIC
            and tag != (scalars.MAP if is_map else scalars.SEQ)
        ):
            self.error(line, column, _tag_message(tag, "a mapping" if is_map else "a list"))
        if len(self.stack) >= MAX_DEPTH:
            self.fatal(line, column, f"the YAML is nested more than {MAX_DEPTH} levels deep")
        container: dict[str, Any] | list[Any] = {} if is_map else []
        parent = self.stack[-1] if self.stack else None
        if parent is not None and parent.key is _NO_KEY and type(parent.container) is dict:
            # A collection used as a key: reported, built under a placeholder and dropped.
            template = is_map and column > 1 and _char_at(self.text, line, column - 1) == "{"
            if template:  # `prompt: {{ x }}` reads as a mapping inside a mapping
                self.error(line, column - 1, _TEMPLATE_MESSAGE)
            else:
                kind = "a mapping" if is_map else "a list"
                self.error(line, column, f"keys must be strings; {kind} cannot be a key")
            key_path = (*parent.path, "<key>")
            self.stack.append(_Frame(container, key_path, None, len(self.values), len(self.keys)))
            parent.key = "<key>"
            parent.key_at = (line, column)
            return
        path = self.place(parent, container, line, column)
        vstart = len(self.values)
        self.values.append((path, line, column))
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(container, path, event.anchor, vstart, len(self.keys)))

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = _Anchor(
                frame.container,
                frame.path,
                self.values[frame.vstart :],
                self.keys[frame.kstart :],
            )

    def alias(self, name: str, line: int, column: int) -> None:
        anchor = self.anchors.get(name)
        if anchor is None:
            if name in self.open_anchors:
                self.fatal(line, column, f"alias '*{name}' refers to a node that contains it")
            self.fatal(line, column, f"unknown alias '*{name}': no '&{name}' before it")
        assert anchor is not None
        self.alias_nodes += anchor.size
        written = len(self.values) - self.alias_nodes
        if self.alias_nodes > MAX_ALIAS_NODES or (
            self.alias_nodes > ALIAS_NODES_FREE
            and self.alias_nodes > ALIAS_NODES_RATIO * max(written, 1)
        ):
            self.fatal(
                line,
                column,
                f"aliases expand this document by {self.alias_nodes:,} nodes, far more than "
                "it writes out; refusing it (a 'billion laughs' document?)",
            )
        if len(self.stack) + anchor.height >= MAX_DEPTH:
            self.fatal(line, column, f"the YAML is nested more than {MAX_DEPTH} levels deep")
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.key is _NO_KEY and type(frame.container) is dict:
            self.take_key(frame, anchor.value, line, column, plain=False)
            return
        value = _copy(anchor.value)
        path = self.place(frame, value, line, column)
        self.values.append((path, line, column))
        cut = len(anchor.path)
        self.values.extend((path + p[cut:], ln, col) for p, ln, col in anchor.values[1:])
        self.keys.extend((path + p[cut:], ln, col) for p, ln, col in anchor.keys)

    # -- placing values --

    def take_key(self, frame: _Frame, key: Any, line: int, column: int, *, plain: bool) -> None:
        if key is None:
            self.error(line, column, "a key is empty or null; give it a name", frame.path)
            key = "null"
        elif not isinstance(key, str):
            shown = _yaml_scalar_text(key)
            self.error(
                line,
                column,
                f"keys must be strings; {shown} is {_kind(key)}: put it in quotes",
                (*frame.path, shown),
            )
            key = shown
        elif plain and key == "<<":
            self.error(
                line,
                column,
                "YAML merge keys ('<<') are not supported; write the keys out, "
                "or put shared agent settings under 'defaults'",
                (*frame.path, key),
            )
        first = frame.seen.get(key)
        if first is not None:
            self.error(
                line,
                column,
                f"duplicate key '{key}' (first defined on line {first})",
                (*frame.path, key),
            )
        else:
            frame.seen[key] = line
        frame.key = key
        frame.key_at = (line, column)

    def place(self, frame: _Frame | None, value: Any, line: int, column: int) -> KeyPath:
        if frame is None:
            self.root = value
            return ()
        container = frame.container
        if isinstance(container, list):
            path = (*frame.path, len(container))
            container.append(value)
            return path
        key = frame.key
        assert isinstance(key, str)
        path = (*frame.path, key)
        if key not in container:  # the first of duplicate keys wins (the file is refused anyway)
            container[key] = value
        self.keys.append((path, *frame.key_at))
        frame.key = _NO_KEY
        return path

    def document(self, path: Path) -> Document:
        if self.diagnostics:
            raise WorkflowInvalid(self.diagnostics)
        root = self.root
        if self.documents == 0 or (root is None and self.root_empty):
            raise _invalid(self.name, "empty workflow file")
        if not isinstance(root, dict):
            line, column = self.values[0][1:] if self.values else (1, 1)
            raise WorkflowInvalid(
                [
                    _diag(
                        self.name,
                        line,
                        column,
                        "a workflow file must be a mapping of keys such as 'version', 'name' "
                        f"and 'agents', but this one is {_kind(root)}",
                        code="invalid",
                    )
                ]
            )
        values = {p: (ln, col) for p, ln, col in self.values}
        keys = {p: (ln, col) for p, ln, col in self.keys}
        source = SourceMap(
            self.name, values=_Positions(self.name, values), keys=_Positions(self.name, keys)
        )
        return Document(path=path, data=root, source=source)


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return _KIND.get(type(value), type(value).__name__)


def _yaml_scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tag_message(tag: str, node: str) -> str:
    if tag in scalars.SCALAR_TAGS or tag in scalars.COLLECTION_TAGS:
        return f"tag {scalars.short_tag(tag)} cannot be used on {node}"
    allowed = ", ".join(
        scalars.short_tag(t)
        for t in (scalars.STR, scalars.INT, scalars.FLOAT, scalars.BOOL, scalars.NULL)
    )
    return (
        f"unsupported YAML tag '{scalars.short_tag(tag)}'; only the core tags are allowed "
        f"({allowed}, !!map, !!seq)"
    )

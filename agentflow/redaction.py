"""One redactor for every exit, and one neutraliser for text from outside.

Redaction replaces credentials by "[REDACTED]" in everything agentflow writes (stdout, stderr,
`--format json|github`, `-o` files, the run log) and in the tool results it sends to a model.
Two kinds of rule:

- **By value**: the value of every environment variable whose name looks like a credential
  (`looks_like_credential`: `OPENAI_API_KEY`, `AWS_SECRET_ACCESS_KEY`, `HF_TOKEN`,
  `PGPASSWORD`, `VERTEXAI_CREDENTIALS`, ...) and of every variable named with `--secret-env`,
  wherever it appears, also in its JSON-escaped, `repr()` and URL-encoded spellings. Values
  shorter than `MIN_SECRET_LENGTH` characters are left alone: they would hide common words,
  and no real key is that short.
- **By shape**: credentials recognisable on their own (`sk-...`, `Bearer ...`, `AKIA...`) and
  values stored under a secret-like name (`"api_key": "..."`, `password=...`).

    redactor = Redactor(["wh-9f8e7d6c5b4a3210"])
    redactor.text("401: bad key wh-9f8e7d6c5b4a3210")  # '401: bad key [REDACTED]'

The CLI builds the process's redactor once (`configure`); `active()` is that redactor.
`RedactingStream` wraps `sys.stdout`/`sys.stderr` with it, so every write passes through.

`neutralise` is the other half of text from outside (provider errors, tool output, model
answers, file contents in errors): terminal control characters become visible escapes
(`\\x1b`), so an error message cannot retitle, clear or recolour a terminal.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RedactingStream",
    "Redactor",
    "active",
    "clean",
    "configure",
    "looks_like_credential",
    "may_hold_shape",
    "neutralise",
    "neutralise_json",
    "redact",
    "redact_shapes",
    "redact_value",
]

REDACTED = "[REDACTED]"

MIN_SECRET_LENGTH = 8
"""Environment values shorter than this are not redacted by value (see the module docstring)."""

# -- which environment variables hold credentials ---------------------------------------------

# Anywhere in the name (PGPASSWORD, AZURE_CLIENT_SECRET, WATSONX_APIKEY, VERTEXAI_CREDENTIALS),
# or as a whole `_`-separated word (AZURE_API_KEY, AWS_ACCESS_KEY_ID, HF_TOKEN, GH_PAT) so
# that TOKENIZERS_PARALLELISM or KEYBOARD_LAYOUT are not taken for one.
_CREDENTIAL_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|APIKEY|CREDENTIAL|PRIVATE_?KEY"
    r"|(?:^|_)(?:KEYS?|TOKENS?|PAT)(?:_|$)"
)


def looks_like_credential(name: str) -> bool:
    """Whether the environment variable `name` holds a credential by its name alone."""
    return _CREDENTIAL_NAME.search(name.upper()) is not None


# -- by shape ---------------------------------------------------------------------------------

# Names under which a secret is stored: `"api_key": "..."`, `api_key='...'`, `Authorization: ...`
# (also inside JSON nested in a string, where the quotes arrive escaped as \").
_SECRET_NAMES = (
    r"(?:[a-z0-9]+[_-])*(?:api[_-]?key|api[_-]?secret|secret[_-]?key|secret[_-]?access[_-]?key"
    r"|access[_-]?token|auth[_-]?token|refresh[_-]?token|client[_-]?secret|password|passwd"
    r"|authorization|x-api-key)"
)
_Q = r"""(?:\\*["'])"""  # an opening or closing quote, possibly escaped
_VALUE = r"""(?:(?:bearer|basic|token)\s+)?[^"'\\\s,;&}\]]+"""
# A value already replaced (by value, which runs first) is not replaced again.
_NAMED_SECRET = re.compile(
    rf"(?i)(\b{_SECRET_NAMES}{_Q}?\s*(?::\s*{_Q}|=\s*{_Q}?))(?!\[REDACTED\]){_VALUE}",
)
# Credentials recognisable by their shape alone, wherever they appear.
_SHAPED_SECRET = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-[A-Za-z0-9_-]{16,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), DeepSeek, ...
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?:AKIA|ASIA|AIDA|AROA|AGPA)[0-9A-Z]{16}"  # AWS access key ids
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|gsk_[A-Za-z0-9]{20,}"  # Groq
    r"|xai-[A-Za-z0-9]{20,}"  # xAI
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r")",
)
_SECRET_KEY = re.compile(rf"(?i){_SECRET_NAMES}$")


def redact_shapes(text: str) -> str:
    """`text` with every credential-shaped substring replaced by "[REDACTED]".

    Replacements never cross a quote or a backslash, so redacting JSON text keeps it valid.
    """
    text = _NAMED_SECRET.sub(rf"\1{REDACTED}", text)
    return _SHAPED_SECRET.sub(REDACTED, text)


# Lower-cased substrings of which every match of the two patterns above contains at least
# one: a secret name holds "api", "secret", "access", "auth", "refresh" or "passw"; a shaped
# credential starts with one of the rest. Text in which none occurs has nothing to redact.
_TRIGGERS = (
    "api",
    "secret",
    "access",
    "auth",
    "refresh",
    "passw",
    "sk-",
    "bearer",
    "akia",
    "asia",
    "aida",
    "aroa",
    "agpa",
    "aiza",
    "gsk_",
    "xai-",
    "hf_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
)


# The letters outside ASCII that case-insensitive matching takes for ASCII ones (Python's
# `re` with IGNORECASE: these four and no others, tests/test_redaction.py checks every code
# point), spelled as the letter they match.
_MATCHES_ASCII = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"), ("\u212a", "k"))


def _one_search(words: Sequence[str]) -> re.Pattern[str]:
    """A pattern finding any of `words`, grouped by first letter (`a(?:pi|uth)|s(?:k-)`): one
    search tests a character per position, about twice as fast as a test per word."""
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0], []).append(re.escape(word[1:]))
    return re.compile(
        "|".join(f"{re.escape(first)}(?:{'|'.join(rests)})" for first, rests in by_first.items())
    )


_TRIGGER = _one_search(_TRIGGERS)


# Past this many characters, `may_hold_shape` searches each distinct line once instead of the
# whole text: a big document repeats most of its lines, and splitting costs less than the
# search it saves (a 30 MB plan: 0.12 s against 0.18 s).
_DISTINCT_LINES_FROM = 1 << 20


def may_hold_shape(text: str) -> bool:
    """False only when `text` certainly has nothing the shape rules (or a secret-named key) hit.

    Text outside ASCII (a model's curly quotes and dashes) is looked at with the four letters
    that case-insensitive matching takes for ASCII ones spelled in ASCII.
    """
    if not text.isascii():
        for letter, spelled in _MATCHES_ASCII:
            if letter in text:  # rare: a test per letter costs far less than a translate()
                text = text.replace(letter, spelled)
    if len(text) >= _DISTINCT_LINES_FROM:
        # No trigger spans a line, so each distinct line need only be looked at once; a
        # big document (a 50,000-agent plan is 48 MB) repeats most of its lines.
        text = "\n".join(set(text.split("\n")))
    return _TRIGGER.search(text.lower()) is not None


# -- by value ---------------------------------------------------------------------------------


def _pieces(value: str) -> list[str]:
    """The secrets one value stands for: itself, each line of a multi-line value (a PEM key
    printed line by line), and the secret-named strings of a JSON object value (the private
    key of a service-account file), with their lines too."""
    pieces: list[str] = []
    for piece in (value, *_secret_leaves(value)):
        pieces.append(piece)
        if "\n" in piece or "\r" in piece:
            pieces.extend(line.strip() for line in piece.splitlines())
    return pieces


def _spellings(piece: str) -> set[str]:
    """The ways `piece` can appear in what agentflow writes: as is, JSON-escaped (ASCII or
    not, once or twice: JSON inside a JSON string), as Python's repr() shows it inside
    quotes, and URL-encoded (a key in a query string)."""
    escaped = json.dumps(piece)[1:-1]
    forms = {
        piece,
        escaped,
        json.dumps(piece, ensure_ascii=False)[1:-1],
        json.dumps(escaped)[1:-1],
        repr(piece)[1:-1],
        quote(piece, safe=""),
        quote_plus(piece, safe=""),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _secret_leaves(value: str) -> list[str]:
    """The secret-named strings of a JSON object value."""
    if not value.lstrip().startswith("{"):
        return []
    try:
        data = json.loads(value)
    except ValueError:
        return []
    found: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(inner, str):
                    if _SECRET_KEY.search(key) or "private" in key.lower():
                        found.append(inner)
                else:
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return found


# Characters that no spelling changes (JSON, repr() and URL encoding all keep them).
_KEPT = re.compile(r"[A-Za-z0-9_.~-]+")


@dataclass(frozen=True, slots=True)
class _ValueRules:
    """The compiled by-value rules: `pattern` replaces, `anchors` tell cheaply whether it can.

    Every spelling of a piece contains the piece's longest run of kept characters, so text
    containing no anchor (a few `in` tests, fast in C) contains no spelling: a regex
    alternation of many strings costs far more per character than that.
    """

    pattern: re.Pattern[str] | None
    forms: tuple[str, ...]
    anchors: tuple[str, ...]

    @classmethod
    def compile(cls, values: Iterable[str]) -> _ValueRules:
        forms: set[str] = set()
        anchors: set[str] = set()
        for value in values:
            for piece in _pieces(value):
                spellings = _spellings(piece)
                if not spellings:
                    continue
                forms |= spellings
                run = max(_KEPT.findall(piece), key=len, default="")
                anchors |= {run} if len(run) >= 6 else spellings
        if not forms:
            return cls(None, (), ())
        # Longest first: where two spellings start at the same place, the longer one (the
        # escaped form, say) is replaced whole, so no half of an escape sequence is left.
        ordered = tuple(sorted(forms, key=lambda form: (-len(form), form)))
        # A value of digits only is not cut out of a number (0.12345678, 1e12345678,
        # 123456789): a JSON document stays valid.
        alternatives = (
            rf"(?<![\w.+-]){re.escape(form)}(?![\w.])" if form.isdigit() else re.escape(form)
            for form in ordered
        )
        return cls(re.compile("|".join(alternatives)), ordered, tuple(sorted(anchors)))

    def may_match(self, text: str) -> bool:
        return any(anchor in text for anchor in self.anchors)


_CACHE_LIMIT = 4096


class Redactor:
    """Replaces credentials, by value and by shape, with "[REDACTED]".

    `values` are the secret values to hide wherever they occur (each in all its spellings,
    see `_spellings`); values shorter than `MIN_SECRET_LENGTH` are ignored. The shape rules
    always apply. Short strings repeat constantly (model names, finish reasons, limit keys),
    so their results are cached, which keeps redaction off the hot path of the run log.
    """

    __slots__ = ("_keys", "_strings", "_values")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values = _ValueRules.compile(values)
        self._strings: dict[str, str] = {}
        self._keys: dict[str, bool] = {}

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, secret_env: Iterable[str] = ()
    ) -> Redactor:
        """Hide the values of credential-named variables of `environ` and of `secret_env`."""
        env = os.environ if environ is None else environ
        names = {name for name in env if looks_like_credential(name)} | set(secret_env)
        return cls(env[name] for name in sorted(names) if env.get(name))

    @property
    def value_count(self) -> int:
        """How many spellings of secret values this redactor looks for."""
        return len(self._values.forms)

    def redact(self, text: str) -> str:
        """`text` with every secret value and credential-shaped substring replaced."""
        rules = self._values
        if rules.pattern is not None and rules.may_match(text):
            text = rules.pattern.sub(REDACTED, text)
        if may_hold_shape(text):
            text = redact_shapes(text)
        return text

    def may_hold_secret(self, text: str) -> bool:
        """False only when `redact` would certainly leave `text` (and its keys) unchanged."""
        if may_hold_shape(text):
            return True
        return self._values.may_match(text)

    def text(self, value: str) -> str:
        """`redact`, cached for the short strings that repeat."""
        if len(value) < MIN_SECRET_LENGTH:  # shorter than any secret or "name=value" pair
            return value
        if len(value) > 128:
            return self.redact(value)
        hit = self._strings.get(value)
        if hit is None:
            if len(self._strings) >= _CACHE_LIMIT:
                self._strings.clear()
            hit = self._strings[value] = self.redact(value)
        return hit

    def secret_key(self, key: str) -> bool:
        """Whether a mapping key names a secret (`api_key`, `Authorization`, `password`)."""
        hit = self._keys.get(key)
        if hit is None:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            hit = self._keys[key] = _SECRET_KEY.search(key) is not None
        return hit

    def value(self, value: Any, depth: int = 0) -> Any:
        """A redacted copy of a JSON-like value: secret-named keys lose their string values,
        every other string (keys too) is redacted. Anything else is redacted as its str(),
        since that is what gets written."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, int | float):
            return value
        if depth < 64 and isinstance(value, dict):
            out = {}
            for key, item in value.items():
                key = self.text(key if isinstance(key, str) else str(key))
                if isinstance(item, str) and self.secret_key(key):
                    out[key] = REDACTED
                else:
                    out[key] = self.value(item, depth + 1)
            return out
        if depth < 64 and isinstance(value, list | tuple):
            return [self.value(item, depth + 1) for item in value]
        return self.text(str(value))

    def held_tail(self, text: str) -> int:
        """How many characters at the end of `text` could be the start of a secret value
        that the next write completes (0 when none): a stream keeps those back."""
        longest = 0
        for form in self._values.forms:
            window = min(len(form) - 1, len(text))
            if window <= longest:
                continue
            start = len(text) - window
            first = form[0]
            at = text.find(first, start)
            while at != -1 and len(text) - at > longest:
                if form.startswith(text[at:]):
                    longest = len(text) - at
                    break
                at = text.find(first, at + 1)
        return longest


_active: Redactor | None = None
_active_lock = threading.Lock()


def active() -> Redactor:
    """The process's redactor: the one `configure` made, or one from the environment."""
    global _active
    if _active is None:
        with _active_lock:
            if _active is None:
                _active = Redactor.from_environment()
    return _active


def configure(secret_env: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> Redactor:
    """Make (and return) the process's redactor from the environment plus `secret_env` names."""
    global _active
    redactor = Redactor.from_environment(environ, secret_env)
    with _active_lock:
        _active = redactor
    return redactor


def redact(text: str) -> str:
    """`text` through the process's redactor."""
    return active().text(text)


def redact_value(value: Any) -> Any:
    """A JSON-like value through the process's redactor (see `Redactor.value`)."""
    return active().value(value)


# -- control characters -----------------------------------------------------------------------

# C0 controls but tab and newline, DEL, C1 controls (U+0080-U+009F: U+009B is a one-character
# CSI to many terminals), and the Unicode bidirectional controls that reorder what a reader
# sees (the "Trojan Source" characters).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(text: str) -> str:
    """`text` with terminal control characters made visible: ESC becomes the four characters
    `\\x1b`, CR `\\x0d`, U+202E `\\u202e`; tab and newline stay, and a CRLF line end becomes a
    newline. For text from outside, before it is displayed; never for agentflow's own
    styling."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_visible, text.replace("\r\n", "\n"))


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


# What json.dumps(ensure_ascii=False) leaves raw and a terminal acts on: C1 and bidirectional
# controls, all outside ASCII (C0 controls are escaped by json, DEL is ignored by terminals).
_JSON_RAW_CONTROL = re.compile("[\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def neutralise_json(text: str) -> str:
    """JSON text with the control characters json leaves raw written as `\\uXXXX` escapes:
    the same JSON value, safe on a terminal. (Outside strings JSON has no such characters,
    so every one is inside a string.)"""
    if text.isascii() or _JSON_RAW_CONTROL.search(text) is None:
        return text
    return _JSON_RAW_CONTROL.sub(_json_escape, text)


def clean(text: str) -> str:
    """Text from outside made fit to display: redacted, then neutralised."""
    return neutralise(redact(text))


# -- streams -----------------------------------------------------------------------------------


class RedactingStream:
    """A text stream that redacts whatever is written to it before `stream` sees it.

    Writes are kept until a line ends, so a secret written in pieces (print() writes each
    argument apart) is redacted whole; `flush()` passes on the rest of an unfinished line
    too, except an end that could begin a secret value (`Redactor.held_tail`), and `drain()`
    passes on everything (at exit). Colours and cursor moves pass through unchanged.
    """

    def __init__(self, stream: TextIO, redactor: Redactor | None = None) -> None:
        self.wrapped = stream
        self._redactor = redactor
        self._pending = ""
        self._drained = False
        self._lock = threading.RLock()

    def _redact(self, text: str) -> str:
        return (self._redactor or active()).redact(text)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            pending = self._pending + text
            end = pending.rfind("\n") + 1
            if end:
                self._pending = pending[end:]
                self.wrapped.write(self._redact(pending[:end]))
            else:
                self._pending = pending
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            pending = self._pending
            if pending:
                hold = 0 if self._drained else (self._redactor or active()).held_tail(pending)
                cut = len(pending) - hold
                redacted = self._redact(pending[:cut])
                self._pending = pending[cut:]
                if redacted:
                    self.wrapped.write(redacted)
            self.wrapped.flush()

    def drain(self) -> None:
        """Write out everything kept back; from now on `flush()` keeps nothing back."""
        with self._lock:
            self._drained = True
            self.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self.wrapped.closed

    @property
    def encoding(self) -> str:
        return self.wrapped.encoding

    @property
    def errors(self) -> str | None:
        return self.wrapped.errors

    def __getattr__(self, name: str) -> Any:
        # No `buffer`: bytes written there would pass unredacted (click looks for it).
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self.wrapped, name)

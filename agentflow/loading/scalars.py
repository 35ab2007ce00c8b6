"""Scalars of the YAML 1.2 core schema, resolved the same way whichever parser produced them.

Plain (unquoted, untagged) scalars are resolved by the core schema's rules: `null`, `~` and
nothing are None; `true`/`false` are booleans; decimal, `0o` octal and `0x` hex are integers;
decimal/exponent forms, `.inf` and `.nan` are floats; everything else is a string. So `yes`,
`on`, `2024-01-01` and `0755` stay strings or decimals, as YAML 1.2 says, not YAML 1.1.

An explicit tag may only be one of the core tags; `tag_error()` says what is wrong otherwise.
"""

from __future__ import annotations

import re
from typing import Final

CORE = "tag:yaml.org,2002:"
STR: Final = CORE + "str"
INT: Final = CORE + "int"
FLOAT: Final = CORE + "float"
BOOL: Final = CORE + "bool"
NULL: Final = CORE + "null"
MAP: Final = CORE + "map"
SEQ: Final = CORE + "seq"

SCALAR_TAGS: Final = frozenset({STR, INT, FLOAT, BOOL, NULL})
COLLECTION_TAGS: Final = frozenset({MAP, SEQ})
NON_SPECIFIC = "!"

_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_DEC = re.compile(r"[-+]?[0-9]+\Z")
_INT_OCT = re.compile(r"0o[0-7]+\Z")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")

# Characters that can start a plain scalar that is not a string; anything else is a string
# without trying the patterns (most scalars in a workflow are words and templates).
_NON_STRING_START = frozenset("~nNtTfF0123456789-+.")

Scalar = str | int | float | bool | None


def short_tag(tag: str) -> str:
    """`tag:yaml.org,2002:int` -> `!!int`, for messages."""
    return "!!" + tag[len(CORE) :] if tag.startswith(CORE) else tag


def resolve_plain(text: str) -> Scalar:
    """The value of an untagged plain scalar under the YAML 1.2 core schema."""
    if text and text[0] not in _NON_STRING_START:
        return text
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    number = _core_int(text)
    if number is not None:
        return number
    real = _core_float(text)
    if real is not None:
        return real
    return text


def construct_tagged(tag: str, text: str) -> Scalar:
    """The value of a scalar with an explicit core tag; ValueError when it does not fit."""
    if tag == STR:
        return text
    if tag == NULL:
        if _NULL.match(text):
            return None
        raise ValueError(f"{_shown(text)} is not a null value")
    if tag == BOOL:
        if text in _BOOL:
            return _BOOL[text]
        raise ValueError(f"{_shown(text)} is not a boolean (true or false)")
    if tag == INT:
        number = _core_int(text)
        if number is None:
            raise ValueError(f"{_shown(text)} is not an integer")
        return number
    if tag == FLOAT:
        real = _core_float(text)
        if real is None:
            number = _core_int(text)
            if number is None:
                raise ValueError(f"{_shown(text)} is not a number")
            real = float(number)
        return real
    raise ValueError(f"tag {short_tag(tag)} cannot be used on a scalar")


def _shown(text: str) -> str:
    """`text` quoted for a one-line message: line breaks escaped, long text clipped."""
    one_line = text.replace("\r", "\\r").replace("\n", "\\n")
    return "'" + (one_line if len(one_line) <= 60 else one_line[:57] + "...") + "'"


def _core_int(text: str) -> int | None:
    try:
        if _INT_DEC.match(text):
            return int(text, 10)
        if _INT_OCT.match(text):
            return int(text[2:], 8)
        if _INT_HEX.match(text):
            return int(text[2:], 16)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return None
    return None


def _core_float(text: str) -> float | None:
    if _FLOAT.match(text):
        return float(text)
    inf = _INF.match(text)
    if inf:
        return float("-inf") if inf.group(1) == "-" else float("inf")
    if _NAN.match(text):
        return float("nan")
    return None

"""`indented_json` writes exactly the text `json.dumps(indent=2, ensure_ascii=False)` does."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentflow.plan.jsontext import indented_json


def _reference(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class Level(enum.IntEnum):
    LOW = 1


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        (),
        {"a": {}, "b": [], "c": [[]], "d": [{}]},
        "plain",
        'quote " backslash \\ newline \n tab \t bell \x07 é ü 中文 😀 \u2028',
        0,
        -7,
        10**30,
        True,
        False,
        None,
        0.1,
        1e-05,
        4.035e-05,
        -0.0,
        1e300,
        math.nan,
        math.inf,
        -math.inf,
        {7: "int key", 2.5: "float key", True: "bool key", False: 0, None: "none key", "s": 1},
        {"nested": [1, [2, [3, {"deep": (4, 5)}]], {"x": None}]},
        [Level.LOW, Name("sub"), {Name("k"): Level.LOW}],
        {"tuple": (1, "two", 3.0), "bools": [True, False, None]},
    ],
)
def test_same_text_as_json_dumps(value: Any) -> None:
    assert indented_json(value) == _reference(value)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_same_text_for_any_json_value(value: Any) -> None:
    assert indented_json(value) == _reference(value)


class _Name(str):
    pass


def test_equal_flat_objects_of_other_types_or_zero_signs_keep_their_own_text() -> None:
    # A flat object's text is reused for an equal one: 1 == 1.0 == True and 0.0 == -0.0
    # are equal but written differently, at any depth and as keys too.
    rows = [
        {"n": 1},
        {"n": 1.0},
        {"n": True},
        {"n": 0.0},
        {"n": -0.0},
        {"n": 0},
        {"n": False},
        {1: "k"},
        {1.0: "k"},
        {True: "k"},
        {0.0: "k"},
        {-0.0: "k"},
        {"n": Level.LOW},
        {"n": 1},
        {_Name("n"): 1},  # equal to a remembered str key: written as that str is
        {_Name("n"): 1.0},
    ]
    value = {"rows": rows, "deeper": [rows, {"again": rows}]}
    assert indented_json(value) == _reference(value)


_flat_scalars = st.sampled_from([0, 1, True, False, 0.0, -0.0, 1.0, None, "", "1", math.nan])
_flat_keys = st.sampled_from(["a", "b", 0, 1, 0.0, -0.0, 1.5, True, False, None])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(_flat_keys, _flat_scalars, max_size=3), max_size=12))
def test_same_text_for_many_small_flat_objects(rows: list[dict[Any, Any]]) -> None:
    value = [rows, {"nested": rows}]
    assert indented_json(value) == _reference(value)


def test_a_value_json_cannot_write_is_refused_alike() -> None:
    for bad in ({"when": object()}, [b"bytes"], {(1, 2): "tuple key"}):
        with pytest.raises(TypeError):
            _reference(bad)
        with pytest.raises(TypeError):
            indented_json(bad)

"""The YAML loader: plain data, positions of every key and value, and located errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentflow.errors import Diagnostic, WorkflowInvalid
from agentflow.loading import MAX_FILE_BYTES, Document, load_document, load_text, yaml_loader

WORKFLOW = """\
version: 1
name: hr_onboarding
agents:
  parse_resume:
    prompt: "Extract the name"
    needs: [a, b]
  screen:
    retry:
      backoff: linear
    output: {format: json, schema: {type: object}}
limits:
  "openai/*": {rpm: 500}
"""


@pytest.fixture(params=["libyaml", "pure"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the C parser and with ruamel's pure-Python one: results must agree."""
    if request.param == "pure":
        monkeypatch.setattr(yaml_loader, "_CParser", None)
    elif yaml_loader._CParser is None:
        pytest.skip("libyaml parser not installed")
    yield request.param


def problems(text: str | bytes, name: str = "wf.yaml") -> list[Diagnostic]:
    with pytest.raises(WorkflowInvalid) as caught:
        load_text(text, name)
    assert caught.value.diagnostics, "WorkflowInvalid must carry diagnostics"
    return caught.value.diagnostics


def only_problem(text: str | bytes, name: str = "wf.yaml") -> Diagnostic:
    found = problems(text, name)
    assert len(found) == 1, found
    return found[0]


# -- data and positions -----------------------------------------------------------------------


def test_data_is_plain_python_in_file_order(parser: str) -> None:
    doc = load_text(WORKFLOW, "wf.yaml")
    assert isinstance(doc, Document)
    assert type(doc.data) is dict
    assert list(doc.data) == ["version", "name", "agents", "limits"]
    assert list(doc.data["agents"]) == ["parse_resume", "screen"]
    assert doc.data["agents"]["parse_resume"]["needs"] == ["a", "b"]
    assert type(doc.data["agents"]["parse_resume"]["needs"]) is list
    assert doc.data["agents"]["screen"]["output"] == {
        "format": "json",
        "schema": {"type": "object"},
    }
    assert doc.data["limits"] == {"openai/*": {"rpm": 500}}


def test_values_and_keys_have_one_based_line_and_column(parser: str) -> None:
    source = load_text(WORKFLOW, "wf.yaml").source
    backoff = ("agents", "screen", "retry", "backoff")
    assert (source.key(backoff).line, source.key(backoff).column) == (9, 7)
    assert (source.value(backoff).line, source.value(backoff).column) == (9, 16)
    assert (source.value(("agents", "parse_resume", "needs", 1)).column) == 16
    assert source.value(("agents", "parse_resume", "needs", 0)).line == 6
    assert (source.key(("limits", "openai/*")).line, source.key(("limits", "openai/*")).column) == (
        12,
        3,
    )
    schema_type = ("agents", "screen", "output", "schema", "type")
    assert (source.value(schema_type).line, source.value(schema_type).column) == (10, 43)
    assert source.value(()).line == 1
    assert source.file == "wf.yaml"
    assert str(source.value(backoff)) == "wf.yaml:9:16"


def test_every_value_and_key_path_is_in_the_source_map(parser: str) -> None:
    source = load_text(WORKFLOW, "wf.yaml").source

    def walk(value: object, path: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
        yield path
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, (*path, index))

    paths = list(walk(load_text(WORKFLOW, "wf.yaml").data, ()))
    assert set(source.values) == set(paths)
    assert set(source.keys) == {p for p in paths if p and isinstance(p[-1], str)}


def test_columns_count_characters_not_bytes(parser: str) -> None:
    source = load_text("é: {ü: 1, b: 2}\n", "wf.yaml").source
    assert source.value(("é", "b")).column == 14


def test_yaml_1_2_core_schema_scalars(parser: str) -> None:
    doc = load_text(
        "a: yes\nb: on\nc: 0o17\nd: 0x1F\ne: 012\nf: 1.5e3\ng: .inf\nh: ~\ni: null\n"
        "j: '1'\nk: !!str 5\nl: !!float 3\nm: 2024-01-01\nn: True\no: -7\np: 1_000\n",
        "wf.yaml",
    )
    assert doc.data == {
        "a": "yes",
        "b": "on",
        "c": 15,
        "d": 31,
        "e": 12,
        "f": 1500.0,
        "g": float("inf"),
        "h": None,
        "i": None,
        "j": "1",
        "k": "5",
        "l": 3.0,
        "m": "2024-01-01",
        "n": True,
        "o": -7,
        "p": "1_000",
    }
    assert type(doc.data["n"]) is bool


def test_aliases_expand_to_independent_copies_with_positions(parser: str) -> None:
    doc = load_text("base: &r {max_attempts: 3}\nx:\n  retry: *r\n", "wf.yaml")
    assert doc.data["x"]["retry"] == {"max_attempts": 3}
    assert doc.data["x"]["retry"] is not doc.data["base"]
    assert doc.source.value(("x", "retry")).line == 3  # where the alias is written
    assert doc.source.value(("x", "retry", "max_attempts")).line == 1  # where the value is
    assert doc.source.key(("x", "retry", "max_attempts")).column == 11


def test_anchored_keys_and_scalars_can_be_reused(parser: str) -> None:
    doc = load_text("&k model: &v gpt\nother:\n  *k : *v\n", "wf.yaml")
    assert doc.data == {"model": "gpt", "other": {"model": "gpt"}}
    assert doc.source.key(("other", "model")).line == 3


def test_byte_order_mark_and_bytes_input_are_accepted(parser: str) -> None:
    doc = load_text("\ufeffname: x\n".encode(), "wf.yaml")
    assert doc.data == {"name": "x"}
    assert doc.source.value(("name",)).column == 7


def test_load_document_reads_a_file_and_names_it_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wf.yaml").write_text(WORKFLOW, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    doc = load_document("wf.yaml")
    assert doc.path == Path("wf.yaml")
    assert doc.source.file == "wf.yaml"
    assert doc.data["name"] == "hr_onboarding"
    assert load_document(tmp_path / "wf.yaml").source.file == str(tmp_path / "wf.yaml")


# -- files that cannot be read ----------------------------------------------------------------


def test_missing_file_is_reported_with_the_path_as_given(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(WorkflowInvalid) as caught:
        load_document(path)
    (diag,) = caught.value.diagnostics
    assert diag.file == path
    assert "file not found" in diag.message
    assert (diag.line, diag.column) == (1, 1)


def test_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        load_document(tmp_path)
    assert "is a directory" in caught.value.diagnostics[0].message


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("name: x\n")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        # chmod 0 does not stop root (CI runs as root), so refuse the read directly.
        if self == path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(WorkflowInvalid) as caught:
        load_document(path)
    assert "permission denied" in caught.value.diagnostics[0].message


def test_file_over_the_size_cap_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(WorkflowInvalid) as caught:
        load_document(path)
    assert "too large" in caught.value.diagnostics[0].message
    assert "5 MiB" in caught.value.diagnostics[0].message
    assert "too large" in only_problem("a: b\n" + "#" * MAX_FILE_BYTES).message


# -- bad bytes and bad YAML -------------------------------------------------------------------


def test_non_utf8_bytes_name_the_offset_and_line(parser: str) -> None:
    diag = only_problem(b"name: x\nsystem: caf\xe9\n")
    assert (diag.line, diag.column) == (2, 12)
    assert "not valid UTF-8" in diag.message
    assert "0xe9" in diag.message
    assert "offset 19" in diag.message
    assert "line 2" in diag.message


def test_control_characters_are_refused_with_their_position(parser: str) -> None:
    diag = only_problem("name: x\nsystem: a\x07b\n")
    assert (diag.line, diag.column) == (2, 10)
    assert "U+0007" in diag.message


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n# and another\n", "---\n"])
def test_empty_files_are_reported_as_empty(parser: str, text: str) -> None:
    assert only_problem(text).message == "empty workflow file"


def test_syntax_error_has_the_position_of_the_yaml_mark(parser: str) -> None:
    diag = only_problem("name: x\nagents: [a, b\n")
    assert diag.line == 3
    assert diag.message.startswith("YAML syntax error: ")
    assert "line 2, column 9" in diag.message  # where the unclosed list started
    assert "\n" not in diag.message


def test_value_with_colon_space_gets_a_quoting_hint(parser: str) -> None:
    diag = only_problem("name: x\nprompt: Answer: yes\n")
    assert (diag.line, diag.column) == (2, 15)
    assert "put it in quotes" in diag.message


def test_tab_indentation_is_explained(parser: str) -> None:
    diag = only_problem("agents:\n\tscreen: {}\n")
    assert diag.line == 2
    assert "tab" in diag.message


def test_unquoted_template_is_explained(parser: str) -> None:
    diag = only_problem("prompt: {{ inputs.text }}\n")
    assert (diag.line, diag.column) == (1, 9)
    assert 'write "{{ ... }}"' in diag.message


def test_duplicate_key_names_the_key_and_the_first_line(parser: str) -> None:
    diag = only_problem("name: x\nagents:\n  a: {prompt: p}\n  b: {}\n  a: {}\n")
    assert (diag.line, diag.column) == (5, 3)
    assert diag.message == "duplicate key 'a' (first defined on line 3)"
    assert diag.path == "agents.a"


def test_every_duplicate_key_is_reported(parser: str) -> None:
    found = problems("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [(d.line, d.path) for d in found] == [(2, "a"), (5, "b.c")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: x\n", "but this one is a list"),
        ("just words\n", "but this one is a string"),
        ("42\n", "but this one is an integer"),
        ("null\n", "but this one is null"),
    ],
)
def test_top_level_must_be_a_mapping(parser: str, text: str, expected: str) -> None:
    diag = only_problem(text)
    assert expected in diag.message
    assert "must be a mapping" in diag.message


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("name: x\n1: a\n", 2, "keys must be strings; 1 is an integer: put it in quotes"),
        ("name: x\ntrue: a\n", 2, "keys must be strings; true is a boolean"),
        ("name: x\n~: a\n", 2, "a key is empty or null"),
        ("name: x\n? [a, b]\n: c\n", 2, "a list cannot be a key"),
        ("name: x\n? {a: b}\n: c\n", 2, "a mapping cannot be a key"),
    ],
)
def test_keys_must_be_strings(parser: str, text: str, line: int, expected: str) -> None:
    diag = only_problem(text)
    assert diag.line == line
    assert expected in diag.message


def test_billion_laughs_is_refused_fast(parser: str) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    diag = only_problem("\n".join(lines) + "\n")
    # Refused on the count, before the copies are made (no wall-clock bound: CI is shared).
    assert "aliases expand this document" in diag.message
    added = int(diag.message.split(" by ")[1].split(" nodes")[0].replace(",", ""))
    assert yaml_loader.ALIAS_NODES_FREE < added <= 2 * yaml_loader.ALIAS_NODES_FREE
    assert "billion laughs" in diag.message


def test_moderate_alias_use_is_fine(parser: str) -> None:
    text = "base: &b {k: [1, 2, 3]}\n" + "".join(f"a{i}: *b\n" for i in range(500))
    doc = load_text(text, "wf.yaml")
    assert doc.data["a499"] == {"k": [1, 2, 3]}


def test_recursive_and_unknown_aliases_are_refused(parser: str) -> None:
    assert "contains it" in only_problem("a: &x [1, *x]\n").message
    diag = only_problem("a: 1\nb: *nope\n")
    assert (diag.line, diag.column) == (2, 4)
    assert "unknown alias '*nope'" in diag.message


def test_deep_nesting_is_refused_without_recursion(parser: str) -> None:
    diag = only_problem("a: " + "[" * 50_000 + "]" * 50_000 + "\n")  # no RecursionError
    assert (diag.line, diag.column) == (1, 4 + yaml_loader.MAX_DEPTH - 1)
    assert "nested more than 100 levels" in diag.message
    block = "".join("  " * i + f"k{i}:\n" for i in range(150)) + "  " * 150 + "v\n"
    assert "nested more than" in only_problem(block).message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!binary aGk=\n", "unsupported YAML tag '!!binary'"),
        ("a: !!timestamp 2024-01-01\n", "unsupported YAML tag '!!timestamp'"),
        ("a: !!python/object:os.system x\n", "unsupported YAML tag '!!python/object:os.system'"),
        ("a: !custom x\n", "unsupported YAML tag '!custom'"),
        ("a: !!set {x}\n", "unsupported YAML tag '!!set'"),
        ("a: !!int twelve\n", "'twelve' is not an integer"),
        ("a: !!map x\n", "tag !!map cannot be used on a scalar"),
        ("a: !!str [1]\n", "tag !!str cannot be used on a list"),
    ],
)
def test_only_core_tags_are_accepted(parser: str, text: str, expected: str) -> None:
    diag = only_problem(text)
    assert expected in diag.message
    assert (diag.line, diag.column) == (1, 4)


def test_merge_keys_are_refused_with_an_explanation(parser: str) -> None:
    diag = only_problem("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert (diag.line, diag.column) == (3, 3)
    assert "merge keys" in diag.message


def test_a_second_document_is_refused(parser: str) -> None:
    diag = only_problem("name: x\n---\nname: y\n")
    assert diag.line == 2
    assert "one YAML document" in diag.message


def test_diagnostics_carry_the_name_given(parser: str) -> None:
    assert only_problem("a: [", name="flows/hr.yaml").file == "flows/hr.yaml"


# -- indentation, said in plain words ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        (  # a key indented more than its siblings
            "version: 1\nagents:\n  a:\n    prompt: x\n     model: y\n",
            (5, 6),
            "bad indentation: 'model:' at line 5 is indented 5 spaces, more than the key above "
            "it ('prompt:' at line 4, 4 spaces)",
        ),
        (  # a key indented less than its siblings, more than its parent
            "version: 1\nagents:\n  a:\n    prompt: x\n   model: y\n",
            (5, 4),
            "bad indentation: 'model:' at line 5 is indented 3 spaces, which lines up with "
            "nothing above it: 'prompt:' (line 4) is indented 4 and 'a:' (line 3) 2",
        ),
        (  # a top-level key indented
            "version: 1\n name: x\n",
            (2, 2),
            "'name:' at line 2 is indented 1 space, more than the key above it",
        ),
        (  # the first key indented, the next one not
            "  version: 1\nname: x\n",
            (2, 1),
            "'name:' at line 2 is indented 0 spaces, which lines up with nothing above it",
        ),
        (  # a list item indented less than the one before
            "agents:\n  a:\n    needs:\n      - a\n     - b\n",
            (5, 6),
            "bad indentation: '- b' at line 5 is indented 5 spaces, which lines up with nothing "
            "above it: '- a' (line 4) is indented 6 and 'needs:' (line 3) 4",
        ),
        (  # a list item among keys
            "agents:\n  a:\n    prompt: x\n    - b\n",
            (4, 5),
            "the list item '- b' at line 4 is indented like the key 'prompt:' (line 3)",
        ),
        (  # a key among list items
            "needs:\n  - a\n  prompt: x\n",
            (3, 3),
            "'prompt:' at line 3 is indented like the list item '- a' (line 2)",
        ),
    ],
)
def test_bad_indentation_is_said_in_plain_words(
    parser: str, text: str, where: tuple[int, int], expected: str
) -> None:
    diag = only_problem(text)
    assert (diag.line, diag.column) == where
    assert expected in diag.message
    assert "mapping values" not in diag.message and "<block" not in diag.message


def test_a_tab_in_the_indentation_is_named(parser: str) -> None:
    diag = only_problem("agents:\n  a:\n  \tprompt: x\n")
    assert (diag.line, diag.column) == (3, 3)
    assert "a tab cannot indent YAML; use spaces" in diag.message


def test_a_colon_in_a_value_is_not_called_indentation(parser: str) -> None:
    diag = only_problem("name: x\nprompt: Answer: yes\n")
    assert "bad indentation" not in diag.message
    assert "put it in quotes" in diag.message


def test_a_tagged_multiline_value_is_shown_on_one_line(parser: str) -> None:
    diag = only_problem("a: !!int |\n  twelve\n  apples\n")
    assert "'twelve\\napples\\n' is not an integer" in diag.message
    assert "\n" not in diag.message


def test_a_template_at_the_very_start_has_a_real_column(parser: str) -> None:
    found = problems("{{ x }}: 1\nz: {")  # a file that ends with '{' once gave column 0
    assert all(d.column >= 1 for d in found), found

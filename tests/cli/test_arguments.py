"""Bad command-line values are one plain `error:` line, exit 2, before anything is created.

These run the real entry point (`run_app`, what `agentflow` and `python -m agentflow` call)
in this process: every check here happens before LiteLLM would be imported.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentflow.cli.app import app
from agentflow.cli.boundary import run_app
from agentflow.values import RUN_ID_PATTERN, write_atomically

from .helpers import REPO

FLOW = str(REPO / "workflows" / "hr_onboarding.yaml")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(app, list(args), prog_name="agentflow")
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "╭" not in err and "Usage:" not in err
    return lines[0]


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "300")


@pytest.mark.parametrize(
    ("args", "says", "command"),
    [
        (["run", FLOW, "--bogus"], "No such option: --bogus", "run"),
        (["run"], "Missing argument 'FILE'", "run"),
        (["run", FLOW, "-f", "xml"], "--format: 'xml' is not one of 'text', 'json'", "run"),
        (["run", FLOW, "--budget-usd", "abc"], "--budget-usd 'abc': expected a number", "run"),
        (
            ["run", FLOW, "--max-concurrency", "0"],
            "--max-concurrency '0': must be 1 or more",
            "run",
        ),
        (["run", FLOW, "--max-workflows", "2.5"], "expected a whole number", "run"),
        (["plan", FLOW, "extra"], "unexpected extra argument", "plan"),
        (["validate", FLOW, "-f", "yaml"], "'yaml' is not one of", "validate"),
        (["graph"], "Missing argument 'FILE'", "graph"),
    ],
)
def test_argument_errors_are_one_plain_line_with_the_help_to_read(
    capsys: pytest.CaptureFixture[str], args: list[str], says: str, command: str
) -> None:
    code, out, err = _cli(capsys, *args)
    line = _one_error_line(err)
    assert code == 2
    assert out == ""
    assert says in line
    assert line.endswith(f"(see 'agentflow {command} --help')")
    assert "Input should" not in line and "Value error" not in line  # pydantic's words


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--budget-usd", "-1"],
            "--budget-usd -1: a budget must be a finite number of USD, 0 or more",
        ),
        (["--budget-usd", "nan"], "--budget-usd nan: a budget must be"),
        (["--budget-usd", "inf"], "--budget-usd inf: a budget must be"),
        (["--mock-latency", "-1"], "--mock-latency -1: expected a finite number of seconds"),
        (["--mock-latency", "nan"], "--mock-latency nan"),
        (["--run-id", "../../escape"], "--run-id '../../escape': a run id is a plain name"),
        (["--run-id", "ABSOLUTE"], "a run id is a plain name"),
        (["--run-id", "sub/../../x"], "--run-id 'sub/../../x'"),
        (["--run-id", ""], "--run-id ''"),
        (["--run-id", ".hidden"], "--run-id '.hidden'"),
        (["--run-id", "a\\b"], "--run-id 'a\\\\b'"),
        (["--run-id", "nul\x00byte"], "--run-id 'nul\\x00byte'"),
        (["--run-id", "x" * 129], "a run id is a plain name"),
    ],
)
def test_bad_values_stop_run_before_a_log_exists(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], says: str
) -> None:
    absolute = tmp_path / "outside" / "abs"  # an absolute id, kept inside the test's folder
    args = [str(absolute) if a == "ABSOLUTE" else a for a in args]
    code, out, err = _cli(capsys, "run", FLOW, "--mock", "--log-dir", "logs", *args)
    line = _one_error_line(err)
    assert code == 2
    assert says in line
    assert line.endswith("(see 'agentflow run --help')")
    assert out == ""
    assert not (tmp_path / "logs").exists()
    assert not (tmp_path / "outside").exists()
    assert not list(tmp_path.parent.glob("escape*"))


@pytest.mark.parametrize("budget", ["-1", "nan", "inf", "-inf"])
def test_plan_refuses_a_budget_that_is_not_a_finite_amount(
    capsys: pytest.CaptureFixture[str], budget: str
) -> None:
    code, out, err = _cli(capsys, "plan", FLOW, f"--budget-usd={budget}")
    assert code == 2
    assert "a budget must be a finite number of USD" in _one_error_line(err)
    assert out == ""  # no `$-1.00` or `$nan` table


def test_plain_run_ids_are_accepted() -> None:
    for good in ("20260317T060002Z-5ce331", "nightly.2026-03-17", "a", "Run_1", "x" * 128):
        assert RUN_ID_PATTERN.fullmatch(good), good


def test_a_folder_given_to_run_is_named_as_a_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "a.yaml").write_text("version: 1\n")
    code, _, err = _cli(capsys, "run", str(folder), "--log-dir", "logs")
    line = _one_error_line(err)
    assert code == 2
    assert f"{folder} is a folder, not a workflow file" in line
    assert f"agentflow run {folder}/*.yaml" in line
    assert "a.yaml" in line
    assert "no such" not in line


def test_a_missing_workflow_file_is_named_as_missing(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "nope.yaml")
    assert code == 2
    assert "nope.yaml: no such workflow file" in _one_error_line(err)


@pytest.mark.parametrize("log_dir", ["afile", "afile/sub"])
def test_a_log_dir_that_is_a_file_is_named_as_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, log_dir: str
) -> None:
    (tmp_path / "afile").write_text("not a folder\n")
    code, _, err = _cli(capsys, "run", FLOW, "--mock", "--log-dir", log_dir)
    line = _one_error_line(err)
    assert code == 2
    assert "afile is a file, not a folder" in line
    assert "File exists" not in line
    assert (tmp_path / "afile").read_text() == "not a folder\n"


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ("adir", "--output adir: is a folder; name a file"),
        (".", "--output .: is a folder"),
        ("afile/out.json", "--output afile/out.json: afile is a file, not a folder"),
        ("afile/deeper/out.json", "afile is a file, not a folder"),
    ],
)
def test_output_is_checked_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str, says: str
) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    code, out, err = _cli(capsys, "run", FLOW, "--mock", "--log-dir", "logs", "-o", output)
    assert code == 2
    assert says in _one_error_line(err)
    assert out == ""
    assert not (tmp_path / "logs").exists()


def test_outputs_are_written_through_a_temporary_file_and_a_rename(tmp_path: Path) -> None:
    target = tmp_path / "new" / "sub" / "out.json"
    write_atomically(target, '{"a": 1}\n')
    assert target.read_text() == '{"a": 1}\n'
    assert (target.stat().st_mode & 0o777) == 0o666 & ~_umask()
    target.chmod(0o640)
    write_atomically(target, '{"a": 2}\n')
    assert target.read_text() == '{"a": 2}\n'
    assert (target.stat().st_mode & 0o777) == 0o640  # an existing file keeps its mode
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "half written \ud800")
    assert target.read_text() == '{"a": 2}\n'  # the old file, whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]  # no temp left


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_input_files_that_cannot_be_read_say_why(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "batch").mkdir()
    (tmp_path / "latin1.json").write_bytes(b'{"role": "caf\xe9"}')
    code, _, err = _cli(capsys, "plan", FLOW, "--inputs", "batch")
    assert code == 2
    assert _one_error_line(err) == "error: batch: cannot read inputs: it is a folder, not a file"
    code, _, err = _cli(capsys, "plan", FLOW, "--inputs", "latin1.json")
    assert code == 2
    assert _one_error_line(err) == (
        "error: latin1.json: cannot read inputs: not UTF-8 text (byte 13)"
    )
    code, _, err = _cli(capsys, "plan", FLOW, "--input", "role=@batch")
    assert code == 2
    assert _one_error_line(err) == (
        "error: --input role: cannot read batch: it is a folder, not a file"
    )


def test_a_log_dir_with_brackets_is_named_as_it_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The last line names the log: a folder like "runs[/x]" is a path, not Rich markup."""
    code, _, err = _cli(capsys, "run", FLOW, "--mock", "--no-progress", "--log-dir", "runs[/x]")
    assert code == 0, err
    assert "Traceback" not in err
    [log] = (tmp_path / "runs[/x]").glob("*.jsonl")
    assert f"log: runs[/x]/{log.name}" in err

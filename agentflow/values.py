"""Run values from the command line or the API, checked before anything is created or spent.

Each check raises `UsageError` (exit 2) with one line that names the option, the value and
what a valid one looks like. `write_atomically` is how result files are written: a reader
sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tempfile
from pathlib import Path

from agentflow.errors import UsageError

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A run id is a plain file name: it names `<log-dir>/<run_id>.jsonl` and nothing else."""


def check_usd(flag: str, value: float | None) -> None:
    """A budget is a finite number of dollars, 0 or more (0 means "spend nothing")."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise UsageError(f"{flag} {value:g}: a budget must be a finite number of USD, 0 or more")


def check_seconds(flag: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise UsageError(f"{flag} {value:g}: expected a finite number of seconds, 0 or more")


def check_run_id(value: str | None) -> None:
    """Refuse ids that are not a plain name (path separators, `..`, NUL, a leading dot)."""
    if value is not None and RUN_ID_PATTERN.fullmatch(value) is None:
        raise UsageError(
            f"--run-id {value!r}: a run id is a plain name of 1 to 128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _check_creatable_folder(flag: str, folder: Path, given: Path) -> None:
    """`folder` is, or can be made as, a folder we may write in."""
    if folder.exists():
        if not folder.is_dir():
            raise UsageError(f"{flag} {given}: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {given}: cannot write in {folder}: permission denied")
        return
    ancestor = _nearest_existing(folder.absolute())
    if not ancestor.is_dir():
        raise UsageError(f"{flag} {given}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {given}: cannot create folders in {ancestor}: permission denied")


def check_log_dir(folder: Path) -> None:
    """`--log-dir` is a folder (or can be created as one) that we may write in."""
    _check_creatable_folder("--log-dir", folder, folder)


def check_output_file(path: Path | None, flag: str = "--output") -> None:
    """`-o FILE` names a file we will be able to write: not a folder, in a writable folder."""
    if path is None:
        return
    if str(path) in ("", ".") or path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; name a file, e.g. {path / 'outputs.json'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: cannot write {path}: permission denied")
    _check_creatable_folder(flag, path.parent, path)


def read_text_file(path: Path) -> str:
    """The UTF-8 text of `path`; else a `UsageError` whose text is what is wrong with it."""
    if path.is_dir():
        raise UsageError("it is a folder, not a file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError("no such file") from None
    except PermissionError:
        raise UsageError("permission denied") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(exc.strerror or str(exc)) from None


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename.

    A reader sees the old file or the new one, never half of one. A target that exists and
    is not a regular file (`/dev/stdout`, a named pipe) is written in place: renaming over
    it would replace the device, not feed it.
    """
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8") as out:
            out.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else _new_file_mode()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    # mkstemp makes 0600 files; an outputs file gets the mode any new file would get.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask

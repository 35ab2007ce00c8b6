"""The one place where errors become a message and an exit code, and where the streams and
consoles every command writes to are set up (redacted, see agentflow/redaction.py)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.markup import escape

from agentflow import redaction
from agentflow.errors import AgentflowError, Diagnostic, WorkflowInvalid
from agentflow.redaction import clean

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_BUDGET = 3
EXIT_PARTIAL = 4
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a killed writer


# Off a terminal (cron mail, CI logs) nothing wraps lines for the reader, so tables get room
# for every column instead of Rich's 80; COLUMNS still wins when set.
PLAIN_WIDTH = 160


def stderr_console() -> Console:
    """Rich on a TTY, plain text elsewhere (Rich honours NO_COLOR and non-terminals)."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PLAIN_WIDTH
    return console


def install_redacting_streams() -> None:
    """Route everything written to sys.stdout and sys.stderr (print, typer.echo, Rich
    consoles, tracebacks) through the process's redactor. Call once, at start-up."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, redaction.RedactingStream):
            continue
        wrapped = redaction.RedactingStream(stream)
        setattr(sys, name, wrapped)
        atexit.register(_drain, wrapped)


def _drain(stream: redaction.RedactingStream) -> None:
    # The reader may have gone away, or the stream be closed: nothing is left to protect.
    with contextlib.suppress(OSError, ValueError):
        stream.drain()


def use_secret_env(names: Iterable[str] | None) -> None:
    """Redact the values of the environment variables `names` too (`--secret-env NAME`).

    A name that is unset, or whose value is too short to redact, gets a warning: the user
    asked for a secret to be hidden and it will not be.
    """
    names = list(names or ())
    redaction.configure(names)
    for name in names:
        value = os.environ.get(name)
        if not value:
            problem = "is not set in the environment; there is nothing to redact"
        elif len(value) < redaction.MIN_SECRET_LENGTH:
            problem = (
                f"is shorter than {redaction.MIN_SECRET_LENGTH} characters, "
                "too short to redact without hiding ordinary words"
            )
        else:
            continue
        stderr_console().print(f"[yellow]warning[/yellow]: --secret-env {escape(name)} {problem}")


def print_json_data(console: Console, data: Any) -> None:
    """`data` as highlighted JSON (as Console.print_json shows it), redacted and with the
    control characters JSON leaves raw (C1, bidirectional) written as \\u escapes.

    Redaction happens before highlighting: on a terminal, styles could split a secret that
    the stream would then no longer recognise.
    """
    document = json.dumps(redaction.redact_value(data), indent=2, ensure_ascii=False, default=str)
    text = JSONHighlighter()(redaction.neutralise_json(document))
    text.no_wrap = True
    text.overflow = None
    console.print(text, soft_wrap=True)


def stdout_console() -> Console:
    """Data on stdout: as wide as the terminal, or PLAIN_WIDTH in a pipe, never wrapped soft."""
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PLAIN_WIDTH
    return console


def print_diagnostic(console: Console, diagnostic: Diagnostic) -> None:
    colour = "red" if diagnostic.severity == "error" else "yellow"
    kind = "error" if diagnostic.severity == "error" else "warning"
    where = f" [dim]({escape(clean(diagnostic.path))})[/dim]" if diagnostic.path else ""
    console.print(
        f"[bold]{escape(clean(diagnostic.location()))}[/bold]: [{colour}]{kind}[/{colour}]: "
        f"{escape(clean(diagnostic.message))}{where}"
    )


def guarded(action: Callable[[], int], console: Console | None = None) -> int:
    """Run a command body; turn agentflow's errors into a message and an exit code.

    Anything else is a bug: one line naming it, exit 1, never a traceback (set
    AGENTFLOW_DEBUG=1 to see it).
    """
    out = console or stderr_console()
    try:
        return action()
    except WorkflowInvalid as exc:
        for diagnostic in exc.diagnostics:
            print_diagnostic(out, diagnostic)
        return exc.exit_code
    except AgentflowError as exc:
        out.print(f"[red]error[/red]: {escape(clean(str(exc)))}")
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`agentflow ... | head`): stop quietly, as Unix tools do.
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        out.print("[yellow]interrupted[/yellow]")
        return EXIT_SIGINT
    except Exception as exc:
        if os.environ.get("AGENTFLOW_DEBUG"):
            raise
        out.print(
            f"[red]internal error[/red]: {escape(type(exc).__name__)}: {escape(clean(str(exc)))} "
            "(this is a bug in agentflow; AGENTFLOW_DEBUG=1 shows the traceback)"
        )
        return EXIT_FAILED


def run_app(
    app: Callable[..., object], args: list[str] | None = None, prog_name: str | None = None
) -> int:
    """Run the command-line app and return its exit code.

    Click would draw argument errors (an unknown option, a bad value, a missing argument)
    as a box in its own words; here each is one plain line, `error: ...`, with the help
    command to read, and exit 2, like every other usage error.
    """
    import typer

    try:  # typer >= 0.20 carries its own copy of click
        from typer._click import exceptions as click
    except ImportError:  # pragma: no cover - older typer runs on click itself
        from click import exceptions as click  # type: ignore[no-redef]

    out = stderr_console()
    try:
        code = app(args=args, prog_name=prog_name, standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        exc.show()  # `agentflow` alone prints the help
        return exc.exit_code
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "agentflow"
        message = _argument_message(exc, click.BadParameter, click.MissingParameter)
        out.print(f"[red]error[/red]: {escape(message)} (see '{escape(where)} --help')")
        return EXIT_INVALID
    except click.ClickException as exc:
        out.print(f"[red]error[/red]: {escape(' '.join(exc.format_message().split()))}")
        return exc.exit_code
    except typer.Abort:
        out.print("[yellow]interrupted[/yellow]")
        return EXIT_SIGINT
    return code if isinstance(code, int) else EXIT_OK


# Typer checks values with pydantic; its wording is for programmers, not for a command line.
_PLAIN_WORDS = (
    (re.compile(r"^Value error, "), ""),
    (re.compile(r"^Input should be a valid number.*"), "expected a number"),
    (re.compile(r"^Input should be a valid integer.*"), "expected a whole number"),
    (re.compile(r"^Input should be greater than or equal to (\S+)"), r"must be \1 or more"),
    (re.compile(r"^Input should be less than or equal to (\S+)"), r"must be \1 or less"),
)


def _argument_message(
    exc: Exception, bad_parameter: type[Exception], missing: type[Exception]
) -> str:
    """One line for a click usage error: `--budget-usd 'abc': expected a number`."""
    if not isinstance(exc, bad_parameter) or isinstance(exc, missing):
        format_message = getattr(exc, "format_message", None)
        text = format_message() if callable(format_message) else str(exc)
        return " ".join(str(text).split()).rstrip(".")
    text = " ".join(str(getattr(exc, "message", exc)).split()).rstrip(".")
    for pattern, plain in _PLAIN_WORDS:
        text = pattern.sub(plain, text)
    param = getattr(exc, "param", None)
    opts = [o for o in getattr(param, "opts", ()) if o.startswith("--")]
    name = opts[0] if opts else getattr(param, "metavar", None) or getattr(param, "name", "")
    value = _given_value(exc)
    shown = f" {value!r}" if value is not None and f"'{value}'" not in text else ""
    return f"{name}{shown}: {text}" if name else text


def _given_value(exc: Exception) -> str | None:
    errors = getattr(exc.__cause__, "errors", None)
    try:
        given = errors()[0].get("input") if callable(errors) else None
    except (IndexError, TypeError, AttributeError):
        return None
    return given if isinstance(given, str) else None


def silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())

"""The one place where errors become a message and an exit code."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console
from rich.markup import escape

from agentflow.errors import AgentflowError, Diagnostic, WorkflowInvalid

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


def print_diagnostic(console: Console, diagnostic: Diagnostic) -> None:
    colour = "red" if diagnostic.severity == "error" else "yellow"
    kind = "error" if diagnostic.severity == "error" else "warning"
    where = f" [dim]({escape(diagnostic.path)})[/dim]" if diagnostic.path else ""
    console.print(
        f"[bold]{escape(diagnostic.location())}[/bold]: [{colour}]{kind}[/{colour}]: "
        f"{escape(diagnostic.message)}{where}"
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
        out.print(f"[red]error[/red]: {escape(str(exc))}")
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
            f"[red]internal error[/red]: {escape(type(exc).__name__)}: {escape(str(exc))} "
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

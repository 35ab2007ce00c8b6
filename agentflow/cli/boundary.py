"""The one place where errors become a message and an exit code."""

from __future__ import annotations

import os
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


def stdout_console() -> Console:
    """Data on stdout: as wide as the terminal, or PLAIN_WIDTH in a pipe, never wrapped soft."""
    console = Console(highlight=False, soft_wrap=True)
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


def silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())

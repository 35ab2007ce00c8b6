"""A real MCP server for the tests, over stdio: an HR directory with two tools.

    python tests/mcp/hr_server.py

`lookup_employee` reads `directory.json` from the working directory (the server's `cwd:`);
`add` adds two numbers. Environment knobs, so each test sets up the case it needs through
the workflow's `env:`:

    HR_DELAY_S     every tool call sleeps this long first (timeouts, stopping a busy server)
    HR_PID_FILE    write "<server pid> <child pid>" here after starting a child process in
                   the server's process group (cleanup of the whole group)
    HR_START_DELAY_S  sleep this long before serving (a server slow to start)
    HR_CRASH       exit with code 3 before serving, after printing this text to stderr
    HR_TOKEN       a secret: the crash message includes it, to check it is redacted
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

server = MCPServer("hr-directory")


def _pause() -> None:
    delay = float(os.environ.get("HR_DELAY_S", "0"))
    if delay > 0:
        time.sleep(delay)


@server.tool()
def lookup_employee(
    employee_id: Annotated[
        str, Field(description="Directory id", pattern="^E[0-9]{4}$", examples=["E1002"])
    ],
) -> dict[str, Any]:
    """Look up an employee by directory id (for example E1002), with their manager."""
    _pause()
    directory = json.loads(Path("directory.json").read_text(encoding="utf-8"))
    if employee_id not in directory:
        raise ToolError(f"no employee with id '{employee_id}'")
    return {"id": employee_id, **directory[employee_id]}


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    _pause()
    return a + b


def main() -> None:
    crash = os.environ.get("HR_CRASH")
    if crash:
        print(f"{crash} (token {os.environ.get('HR_TOKEN', '')})", file=sys.stderr, flush=True)
        sys.exit(3)
    pid_file = os.environ.get("HR_PID_FILE")
    if pid_file:
        child = subprocess.Popen(  # stays in this server's process group
            [sys.executable, "-c", "import time; time.sleep(600)"],
            stdin=subprocess.DEVNULL,
        )
        Path(pid_file).write_text(f"{os.getpid()} {child.pid}", encoding="utf-8")
    time.sleep(float(os.environ.get("HR_START_DELAY_S", "0")))
    server.run("stdio")


if __name__ == "__main__":
    main()

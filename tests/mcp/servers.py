"""The test MCP server (`hr_server.py`) as workflows and model records see it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentflow.model.types import McpServer

HR_SERVER = Path(__file__).with_name("hr_server.py")
COMMAND = [sys.executable, str(HR_SERVER)]
DIRECTORY = {"E1002": {"name": "Ada Lovelace", "manager": "E1001"}}
# Generous: starting a Python MCP server takes seconds on a loaded machine.
START_TIMEOUT_S = 90.0


def directory_folder(folder: Path, entries: Mapping[str, Any] = DIRECTORY) -> Path:
    """`folder` holding the server's `directory.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "directory.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def hr_server(
    cwd: Path,
    *,
    name: str = "hr",
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> McpServer:
    """The test server as the model records it."""
    return McpServer(
        name=name,
        command=tuple(COMMAND),
        env=tuple((env or {}).items()),
        cwd=cwd,
        timeout=timeout,
        start_timeout=START_TIMEOUT_S,
        base_dir=cwd,
    )


def server_entry(cwd: Path, **extra: Any) -> dict[str, Any]:
    """The test server as a workflow file's `mcp_servers:` entry."""
    return {"command": COMMAND, "cwd": str(cwd), "start_timeout": f"{START_TIMEOUT_S:g}s", **extra}


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False

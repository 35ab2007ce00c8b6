"""Find a system tool a test needs (tmux, Graphviz's dot), installing its Debian package once.

Tests that drive a real program skip only when it is missing AND cannot be installed here
(no apt-get, not root, or no package source); CI (`.ci/run`) installs them up front.
"""

from __future__ import annotations

import os
import shutil
import subprocess


def ensure_tool(binary: str, package: str) -> str | None:
    """The path of `binary`, after `apt-get install -y package` if it was missing; else None."""
    found = shutil.which(binary)
    if found is not None:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", package],
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which(binary)

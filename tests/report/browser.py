"""Open a page in real headless Chromium (Debian's `chromium`): its DOM after the scripts ran,
its console messages, the URLs it asked the network for, and a screenshot.

Everything stays on this machine: the page is a local file, host names resolve nowhere, and
Chromium's own background traffic (updates, sync) is switched off or told apart from the
page's requests in the NetLog (the page's have the file:// top frame in their cache key).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.system_tools import ensure_tool

_CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)$", re.MULTILINE)
_PAGE_LOAD = re.compile(r"_dk_file:// file:// ([a-z]+://[^\"\s]+)")
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium() -> str | None:
    """The chromium binary, installed with apt-get when missing and possible; else None."""
    return ensure_tool("chromium", "chromium")


@dataclass(frozen=True)
class Page:
    dom: str
    console: tuple[str, ...]
    loads: tuple[str, ...]  # http(s) and other network URLs the page asked for


def open_page(binary: str, page: Path, scratch: Path, *, screenshot: Path | None = None) -> Page:
    """Load `page` (after its scripts) and report what it did."""
    profile = scratch / "chromium-profile"
    netlog = scratch / "netlog.json"
    argv = [binary, *_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}"]
    uri = page.resolve().as_uri()
    done = subprocess.run(
        [*argv, "--virtual-time-budget=5000", "--dump-dom", uri],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if screenshot is not None:
        subprocess.run(
            [*argv, "--window-size=1280,1600", f"--screenshot={screenshot}", uri],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    log = netlog.read_text(encoding="utf-8", errors="replace") if netlog.exists() else ""
    return Page(
        dom=done.stdout,
        console=tuple(_CONSOLE.findall(done.stderr)),
        loads=tuple(sorted(set(_PAGE_LOAD.findall(log)))),
    )


def non_background_pixels(png: Path) -> int:
    """Pixels that differ from the screenshot's most common colour (its background)."""
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 24) or []
    if not colours:
        return 0
    background = max(colours)[0]
    return sum(n for n, _ in colours) - background

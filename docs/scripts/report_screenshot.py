"""Make docs/images/report.png: the HTML report of a `--mock` run, in headless Chromium.

    .venv/bin/python docs/scripts/report_screenshot.py

Runs workflows/hr_onboarding.yaml with --mock (no network, no keys), writes its `agentflow report --format html`, and screenshots the page. Needs Debian's
`chromium` on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENTFLOW = [sys.executable, "-m", "agentflow"]
IMAGE = ROOT / "docs" / "images" / "report.png"
WORKFLOW = ROOT / "workflows" / "hr_onboarding.yaml"


def main() -> int:
    browser = shutil.which("chromium")
    if browser is None:
        print("chromium is not on the PATH (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="agentflow-shot-") as tmp:
        folder = Path(tmp)
        logs = folder / "runs"
        # A copy of the examples, run by relative paths: the page's provenance then shows
        # the command a reader would type, not this machine's folders.
        shutil.copytree(WORKFLOW.parent, folder / "workflows")
        subprocess.run(
            [*AGENTFLOW, "run", f"workflows/{WORKFLOW.name}", "--mock", "--mock-latency", "0.4",
             "--no-progress", "--quiet", "--run-id", "r-docs", "--log-dir", "runs"],
            check=False, cwd=folder, capture_output=True,
        )
        page = folder / "report.html"
        subprocess.run(
            [*AGENTFLOW, "report", "r-docs", "--log-dir", str(logs), "-f", "html", "-o", str(page)],
            check=True, cwd=folder,
        )
        IMAGE.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-background-networking", f"--user-data-dir={folder / 'p'}",
             "--window-size=1280,1500", f"--screenshot={IMAGE}", page.as_uri()],
            check=True, capture_output=True,
        )
    print(f"wrote {IMAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

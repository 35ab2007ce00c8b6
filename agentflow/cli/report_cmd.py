"""`agentflow report [RUN_ID|latest]`: a past run (with the runs it continued) as a report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

from agentflow.errors import UsageError
from agentflow.report.model import load_report
from agentflow.report.render import render_document
from agentflow.values import check_output_file, write_atomically


def report_command(
    log_dir: Path,
    run_id: str,
    *,
    format: str,
    output: Path | None,
    compare: tuple[str, str] | None,
    out: Console,
) -> int:
    """Render the report of `run_id` (or a comparison of two runs); returns the exit code."""
    check_output_file(output)
    if compare is not None:
        from agentflow.report.compare import compare_runs

        if format in ("junit", "html"):
            raise UsageError(f"--compare gives text, markdown or json, not {format}")
        before, after = (load_report(log_dir, r, with_dag=False) for r in compare)
        text = render_document(compare_runs(before, after), format, width=_width(out, output))
    else:
        report = load_report(log_dir, run_id, with_dag=format == "html")
        text = render_document(report, format, width=_width(out, output))
    if output is not None:
        try:
            write_atomically(output, text)
        except OSError as exc:
            raise UsageError(f"cannot write -o {output}: {exc.strerror or exc}") from None
        out.out(f"report of {run_id if compare is None else ' vs '.join(compare)}: {output}")
        return 0
    sys.stdout.write(text)
    return 0


def _width(out: Console, output: Path | None) -> int | None:
    # A file or a pipe gets every table whole; a terminal (or COLUMNS) sets the width.
    if output is None and (out.is_terminal or os.environ.get("COLUMNS")):
        return out.width
    return None

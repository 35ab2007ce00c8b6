"""Reports: a run's logs (and its parents') read into one frozen record, rendered as text,
Markdown, JSON, JUnit XML or a self-contained HTML page.

    report = load_report(log_dir, "latest")
    text = render(report, "markdown")

Nothing here imports litellm: a report reads logs, it never calls a model.
"""

from agentflow.report.model import REPORT_FORMAT, Report, build_report, load_report

__all__ = ["REPORT_FORMAT", "Report", "build_report", "load_report"]

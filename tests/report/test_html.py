"""The HTML report in real headless Chromium: it loads from disk with no console errors and no
network, draws one timeline row per agent (or aggregated fan-out), and is not blank."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentflow.report.html import MAX_ROWS, render_html, timeline_groups
from agentflow.report.model import load_report
from benchmarks.reports import synthetic_run
from tests.report.browser import chromium, non_background_pixels, open_page
from tests.report.runs import invoice_workflow, run_logged

_RESOURCE = re.compile(
    r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.I,
)


@pytest.fixture(scope="module")
def browser() -> str:
    found = chromium()
    if found is None:
        pytest.skip(
            "chromium is not installed and cannot be installed here (needs root and apt-get)"
        )
    return found


def test_the_page_loads_nothing_from_outside(tmp_path: Path) -> None:
    run_logged(tmp_path, "r-1", invoice_workflow())
    html = render_html(load_report(tmp_path, "r-1"))
    assert not _RESOURCE.search(html)
    assert "<link" not in html and "<img" not in html and "<iframe" not in html
    assert "</script" not in html.split('id="report-data">', 1)[1].split("</script>", 1)[0]


def test_the_browser_check_sees_errors_and_loads(browser: str, tmp_path: Path) -> None:
    # The harness itself: a page that throws and fetches an image must be caught.
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="https://example.invalid/x.png">'
        "<script>null.x;</script></body></html>",
        encoding="utf-8",
    )
    page = open_page(browser, bad, tmp_path)
    assert any("Uncaught TypeError" in line for line in page.console)
    assert page.loads == ("https://example.invalid/x.png",)


def test_a_small_run_in_chromium(browser: str, tmp_path: Path) -> None:
    run_logged(tmp_path, "r-1", invoice_workflow())
    report = load_report(tmp_path, "r-1")
    page_path = tmp_path / "report.html"
    page_path.write_text(render_html(report), encoding="utf-8")
    shot = tmp_path / "shot.png"

    page = open_page(browser, page_path, tmp_path, screenshot=shot)

    assert page.console == ()
    assert page.loads == ()
    assert 'data-ready="1"' in page.dom
    rows = re.findall(r'<g class="row[^"]*" data-row="\d+"', page.dom)
    assert len(rows) == len(report.agents) == 8
    assert 'id="continue-command">agentflow retry r-1' in page.dom
    # The back-off between check's two attempts is drawn (fill of the retry colour).
    assert page.dom.count('fill="var(--retry)"') >= 2
    assert non_background_pixels(shot) > 20_000


def test_five_thousand_agents_are_aggregated_and_under_5_mb(browser: str, tmp_path: Path) -> None:
    log_dir, run_id = synthetic_run(tmp_path / "big", agents=5000)
    report = load_report(log_dir, run_id)
    html = render_html(report)
    assert len(html.encode()) < 5 * 1024 * 1024
    groups = timeline_groups(report)
    assert 1 < len(groups) <= MAX_ROWS
    assert sum(len(members) for _, members in groups) == 5000
    page_path = tmp_path / "big.html"
    page_path.write_text(html, encoding="utf-8")

    page = open_page(browser, page_path, tmp_path)

    assert page.console == ()
    assert page.loads == ()
    assert len(re.findall(r'<g class="row group" data-row="\d+"', page.dom)) == len(groups)
    assert "aggregated rows" in page.dom


def test_the_dag_comes_from_the_unchanged_workflow_file(browser: str, tmp_path: Path) -> None:
    log_dir, run_id = synthetic_run(tmp_path / "small", agents=12)
    report = load_report(log_dir, run_id)
    [dag] = report.dags
    assert dag.note is None and len(dag.nodes) == 12
    assert {n.level for n in dag.nodes} == {0, 1, 2, 3}
    page_path = tmp_path / "dag.html"
    page_path.write_text(render_html(report), encoding="utf-8")

    page = open_page(browser, page_path, tmp_path)

    assert page.console == ()
    assert page.dom.count('class="dag-node"') == 12
    # Edited since the run: the page says so instead of drawing a DAG that may be wrong.
    flow = tmp_path / "small" / "big.yaml"
    flow.write_text(flow.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    [changed] = load_report(log_dir, run_id).dags
    assert changed.nodes == () and "changed since the run" in (changed.note or "")

"""Snapshots of every report format for a deterministic run, and what each format must hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml, Skipped
from syrupy.assertion import SnapshotAssertion

from agentflow.report.model import Report, load_report
from agentflow.report.render import render_document, report_json
from agentflow.schema.resources import load_schema
from tests.report.runs import invoice_workflow, run_logged

_PRICE_MAP = re.compile(r"(?<=litellm )[0-9.]+|(?<=\"litellm_version\": \")[0-9.]+|[0-9a-f]{64}")


@pytest.fixture
def report(tmp_path: Path) -> Report:
    run_logged(tmp_path, "r-snap", invoice_workflow())
    return load_report(tmp_path, "r-snap", with_dag=False)


def _stable(text: str, tmp_path: Path) -> str:
    # Paths and the installed LiteLLM's price map differ from machine to machine.
    return _PRICE_MAP.sub("<pinned>", text.replace(str(tmp_path), "<tmp>"))


@pytest.mark.parametrize("format", ["text", "markdown", "junit"])
def test_each_format_of_a_deterministic_run(
    report: Report, tmp_path: Path, format: str, snapshot: SnapshotAssertion
) -> None:
    assert _stable(render_document(report, format), tmp_path) == snapshot


def test_json_follows_its_schema_and_snapshot(
    report: Report, tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    document = report_json(report)
    jsonschema.validate(document, load_schema("report.schema.json"))
    assert json.loads(_stable(json.dumps(document), tmp_path)) == snapshot
    assert document["failures"][0]["skipped"] == ["approve"]
    assert document["retries"]["by_class"] == {"server_error": 2}


def test_text_never_cuts_a_number_when_narrow(report: Report) -> None:
    wide = render_document(report, "text")
    narrow = render_document(report, "text", width=60)
    for amount in re.findall(r"\$[0-9.,]+", wide):
        assert amount in narrow
    tables = narrow.split("\nCost by workflow\n", 1)[1].split("\nFailures\n", 1)[0]
    assert max(len(line) for line in tables.splitlines()) <= 60
    # Stacked rows: a name line, then each number after its header.
    assert "  Runs 2 · Failed 1 · Retries 0 · Calls 2" in narrow


def test_junit_has_one_case_per_agent_and_instance(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(render_document(report, "junit"), encoding="utf-8")
    xml = JUnitXml.fromfile(str(path))
    cases = {(suite.name, case.name): case for suite in xml for case in suite}
    assert len(cases) == 8
    failed = cases[("invoices[1]", "classify")]
    [failure] = failed.result
    assert isinstance(failure, Failure) and failure.type == "bad_request"
    assert "not a number" in (failure.message or "")
    [skip] = cases[("invoices[1]", "approve")].result
    assert isinstance(skip, Skipped) and "dependency_failed" in (skip.message or "")
    assert cases[("invoices[0]", "check")].result == []
    assert cases[("invoices[0]", "check")].time == pytest.approx(4.5)
    assert (xml.tests, xml.failures, xml.skipped) == (8, 1, 1)

"""A report as JUnit XML, for CI: one test case per agent per workflow instance.

    <testsuites name="agentflow r-42" tests="3" failures="1" skipped="1" time="4.2">
      <testsuite name="hr_onboarding[0]" ...>
        <testcase classname="hr_onboarding[0]" name="screen" time="2.1">
          <failure type="output_invalid" message="the answer is not valid JSON ..."/>

A failed agent is a `<failure>` whose type is its error class; a skipped agent is `<skipped>`
with its reason; an agent a resumed or retried run took from an earlier run counts with its
result there. Messages are redacted and stripped of control characters XML cannot carry.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

from agentflow.redaction import clean
from agentflow.report.model import AgentRun, Report

# XML 1.0 cannot carry most C0 controls, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _attr(text: object) -> str:
    return quoteattr(_NOT_XML.sub("", clean(str(text))))


def _text(text: str) -> str:
    body = _NOT_XML.sub("", clean(text))
    return body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _seconds(run: AgentRun) -> float:
    if run.start_s is None or run.end_s is None:
        return 0.0
    return max(0.0, round(run.end_s - run.start_s, 3))


def _case(run: AgentRun, suite: str) -> list[str]:
    head = (
        f'    <testcase classname={_attr(suite)} name={_attr(run.agent)} time="{_seconds(run):.3f}"'
    )
    if run.status == "completed":
        return [head + "/>"]
    if run.status == "failed":
        message = run.message or ""
        return [
            head + ">",
            f"      <failure type={_attr(run.error_class or 'unknown')} "
            f"message={_attr(message[:500])}>{_text(message)}</failure>",
            "    </testcase>",
        ]
    if run.status == "skipped":
        reason = run.skip_reason or "skipped"
        detail = f"{reason}: {run.skip_detail}" if run.skip_detail else reason
        return [head + ">", f"      <skipped message={_attr(detail)}/>", "    </testcase>"]
    return [
        head + ">",
        '      <error type="unfinished" message="the run ended before this agent did"/>',
        "    </testcase>",
    ]


def render_junit(report: Report) -> str:
    """The report as one JUnit XML document (test suites per workflow instance)."""
    suites: dict[str, list[AgentRun]] = {}
    for key, run in report.latest.items():
        suites.setdefault(f"{key[0]}[{key[1]}]", []).append(run)
    total = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    body: list[str] = []
    for name, runs in suites.items():
        counts = {
            "tests": len(runs),
            "failures": sum(r.status == "failed" for r in runs),
            "skipped": sum(r.status == "skipped" for r in runs),
            "errors": sum(r.status not in ("completed", "failed", "skipped") for r in runs),
        }
        for k, v in counts.items():
            total[k] += v
        spent = sum(_seconds(r) for r in runs)
        attrs = " ".join(f'{k}="{v}"' for k, v in counts.items())
        body.append(f'  <testsuite name={_attr(name)} {attrs} time="{spent:.3f}">')
        for run in runs:
            body.extend(_case(run, name))
        body.append("  </testsuite>")
    attrs = " ".join(f'{k}="{v}"' for k, v in total.items())
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<testsuites name={_attr('agentflow ' + report.run_id)} {attrs} "
        f'time="{report.duration_s:.3f}">',
    ]
    return "\n".join([*head, *body, "</testsuites>"]) + "\n"

"""A real run through the local fake server (a rate limit, a 500 then an answer, a 400 that
fails an agent and skips its dependant), then its report: what the wire did, the report says."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml, Skipped

from agentflow.schema.resources import load_schema
from tests.cli.helpers import invoke
from tests.e2e.cli import run_cli, write_workflow
from tests.fakeserver import FakeLLMServer, Scripted

pytestmark = pytest.mark.e2e


def test_the_report_of_a_real_run_matches_its_wire(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    fake_server.script.append(Scripted(fail=500))  # the first request to arrive, whichever
    agents: dict[str, object] = {f"a{i}": {"prompt": f"Say {i}."} for i in range(6)}
    agents["broken"] = {"prompt": "[[fail=400]] Parse this."}
    agents["after"] = {"needs": ["broken"], "prompt": "Summarise."}
    flow = write_workflow(
        tmp_path,
        {
            "name": "wire",
            "defaults": {
                "model": "openai/gpt-4o-mini",
                "max_tokens": 20,
                "api_base": fake_server.base_url,
                "retry": {"max_attempts": 3, "initial_delay": "100ms", "max_delay": "1s"},
            },
            "limits": {"openai/*": {"rpm": 600, "burst": 2}},
            "agents": agents,
        },
    )
    junit = tmp_path / "junit.xml"

    run = run_cli(flow, "--junit", junit, cwd=tmp_path, run_id="r-wire")

    assert run.returncode == 1, run.describe()
    result = invoke(["report", "r-wire", "--log-dir", str(tmp_path / "logs"), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, load_schema("report.schema.json"))
    served = fake_server.requests
    assert document["totals"]["calls"] == len(served)
    assert document["retries"]["by_class"] == {"server_error": 1}
    [rpm] = [w for w in document["waits"] if w["reason"] == "rpm"]
    assert rpm["count"] >= 4 and rpm["seconds"] > 0.2  # 8 calls at 10/s after a burst of 2
    [failure] = document["failures"]
    assert (failure["agent"], failure["error_class"], failure["skipped"]) == (
        "broken",
        "bad_request",
        ["after"],
    )
    assert document["continue_command"].startswith("agentflow retry r-wire")
    assert document["provenance"][0]["files"][0]["path"] == str(flow)

    cases = {case.name: case for suite in JUnitXml.fromfile(str(junit)) for case in suite}
    assert len(cases) == 8
    assert isinstance(cases["broken"].result[0], Failure)
    assert isinstance(cases["after"].result[0], Skipped)

"""`run --metrics-port/--metrics-file`, `retry --metrics-file`, through the real CLI against
the local fake provider: `/metrics` scraped over HTTP while the run goes on, the textfile
checked against the run log, a port in use refused before any call, and no metrics flag
meaning no prometheus_client at all."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cli import Outcome, cli_command, cli_env, of, run_cli, start_cli, write_workflow
from tests.fakeserver import FakeLLMServer, Scripted

pytestmark = pytest.mark.e2e

MODEL = "openai/gpt-4o-mini"
AGENTS = 12


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    # http.client, not urllib: no proxy from the environment may stand in between.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(metrics: dict[tuple[str, Any], float], name: str, **labels: str) -> float:
    return sum(
        v
        for (n, items), v in metrics.items()
        if n == name and all(dict(items).get(k) == want for k, want in labels.items())
    )


def flow(server: FakeLLMServer) -> dict[str, Any]:
    agents: dict[str, Any] = {f"a{i:02d}": {"prompt": f"Task {i}."} for i in range(AGENTS)}
    agents["doomed"] = {"prompt": "Refuse me [[fail=400]]", "critical": False}
    return {
        "name": "scraped",
        "defaults": {"model": MODEL, "max_tokens": 20, "api_base": server.base_url},
        "agents": agents,
    }


@dataclass
class ScrapedRun:
    outcome: Outcome
    textfile: Path
    health: tuple[int, str]
    during: dict[tuple[str, Any], float]
    after_closed: bool
    retried: Outcome
    retry_textfile: Path


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScrapedRun]:
    from tests.fakeserver import ServerThread

    tmp = tmp_path_factory.mktemp("scraped")
    with ServerThread() as server:
        server.latency_s = 0.25
        # The first two calls: a 429 (retried after 0.1 s) and a 500 (retried).
        server.enqueue(Scripted(fail=429, retry_after=0.1), Scripted(fail=500))
        path = write_workflow(tmp, flow(server))
        port = free_port()
        textfile = tmp / "agentflow.prom"
        started = start_cli(
            path,
            "--no-progress",
            "--max-concurrency",
            "2",
            "--metrics-port",
            str(port),
            "--metrics-file",
            textfile,
            cwd=tmp,
            run_id="scraped-1",
        )
        try:
            health = _wait_for_health(started, port)
            # Scrape while calls are still going: wait for some answers, not all.
            during = _scrape_until(port, lambda m: total(m, "agentflow_llm_requests_total") >= 3)
        finally:
            outcome = started.finish()
        after_closed = _refused(port)
        retry_textfile = tmp / "retry.prom"
        retried = _cli(
            tmp,
            "retry",
            "scraped-1",
            "--log-dir",
            tmp / "logs",
            "--no-progress",
            "--metrics-file",
            retry_textfile,
        )
    yield ScrapedRun(outcome, textfile, health, during, after_closed, retried, retry_textfile)


def _wait_for_health(started: Any, port: int) -> tuple[int, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            raise AssertionError(f"the run ended before /healthz answered: {started.finish()}")
        try:
            return get(port, "/healthz")
        except OSError:
            time.sleep(0.05)
    raise AssertionError("/healthz never answered")


def _scrape_until(port: int, enough: Any) -> dict[tuple[str, Any], float]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, text = get(port, "/metrics")
        assert status == 200
        metrics = parse(text)
        if enough(metrics):
            return metrics
        time.sleep(0.02)
    raise AssertionError("the counters never moved")


def _refused(port: int) -> bool:
    try:
        get(port, "/healthz")
    except OSError:
        return True
    return False


def _cli(cwd: Path, *args: str | Path) -> Outcome:
    done = subprocess.run(
        cli_command(*args), cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=90
    )
    return Outcome(done.returncode, done.stdout, done.stderr, None)


def test_metrics_scraped_during_the_run_and_the_textfile_agree_with_the_run_log(
    scraped: ScrapedRun,
) -> None:
    outcome = scraped.outcome
    assert outcome.returncode == 4, outcome.describe()  # partial: doomed is not critical
    assert scraped.health == (200, "ok\n")
    assert scraped.during[("agentflow_run_in_progress", ())] == 1
    assert scraped.after_closed  # the endpoint went with the run

    events = outcome.events()
    final = parse(scraped.textfile.read_text())
    assert final[("agentflow_run_in_progress", ())] == 0
    assert final[("agentflow_run_exit_code", ())] == 4

    # Every call in the log, by outcome: answers, the retried 429 and 500, the refused 400.
    answered = len(of(events, "llm.response"))
    retried = Counter(e["error_class"] for e in of(events, "llm.retry"))
    assert retried == {"rate_limit": 1, "server_error": 1}
    assert total(final, "agentflow_llm_requests_total", outcome="ok") == answered == AGENTS
    assert total(final, "agentflow_llm_requests_total", outcome="rate_limit") == 1
    assert total(final, "agentflow_llm_requests_total", outcome="server_error") == 1
    assert total(final, "agentflow_llm_requests_total", outcome="bad_request") == 1
    assert total(final, "agentflow_llm_requests_total") == len(of(events, "llm.request"))
    assert total(final, "agentflow_llm_throttled_total", model=MODEL) == 1

    totals = events[-1]["totals"]
    assert total(final, "agentflow_tokens_total", direction="input") == totals["input_tokens"]
    assert total(final, "agentflow_tokens_total", direction="output") == totals["output_tokens"]
    assert total(final, "agentflow_cost_usd_total") == pytest.approx(totals["cost_usd"])
    assert totals["cost_usd"] > 0
    assert total(final, "agentflow_agents_completed_total") == totals["agents"]["completed"]
    assert total(final, "agentflow_agents_failed_total", error_class="bad_request") == 1
    assert total(final, "agentflow_workflows_failed_total", status="partial") == 1

    # What was scraped mid-run is a part of the end: counters only grow.
    for key, seen in scraped.during.items():
        if key[0].endswith("_total") and key in final:
            assert seen <= final[key], key
    assert total(scraped.during, "agentflow_llm_requests_total") < total(
        final, "agentflow_llm_requests_total"
    )


def test_retry_takes_the_metrics_flags_of_run(scraped: ScrapedRun) -> None:
    retried = scraped.retried
    assert retried.returncode == 4, retried.describe()
    metrics = parse(scraped.retry_textfile.read_text())
    assert total(metrics, "agentflow_agents_reused_total", status="completed") == AGENTS
    assert total(metrics, "agentflow_agents_failed_total", agent="doomed") == 1
    assert total(metrics, "agentflow_llm_requests_total") == 1  # only doomed was asked again


def test_a_port_in_use_stops_the_run_before_any_call_with_exit_2(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path, flow(fake_server))
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        refused = run_cli(path, "--no-progress", "--metrics-port", str(port), cwd=tmp_path)
    assert refused.returncode == 2, refused.describe()
    assert f"--metrics-port {port}: the port is in use on 127.0.0.1" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert fake_server.requests == []
    assert not list((tmp_path / "logs").glob("*.jsonl"))


# Runs the real entry point, then says whether prometheus_client was ever imported.
WRAPPER = """\
import sys
sys.argv = ["agentflow", *sys.argv[1:]]
from agentflow.cli.app import app
try:
    app()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write(f"\\nPROMETHEUS={'prometheus_client' in sys.modules} EXIT={code}\\n")
"""


def test_a_run_without_metrics_flags_never_imports_prometheus_client(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            WRAPPER,
            "run",
            str(repo / "workflows" / "hr_onboarding.yaml"),
            "--mock",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(),
        timeout=90,
    )
    assert "PROMETHEUS=False EXIT=0" in done.stderr, done.stderr[-2000:]


def test_a_sigterm_closes_the_endpoint_and_leaves_the_final_numbers_in_the_textfile(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    fake_server.latency_s = 10.0  # every call is in flight when the signal comes
    document = flow(fake_server)
    document["agents"] = {f"slow{i}": {"prompt": f"Slow {i}."} for i in range(3)}
    path = write_workflow(tmp_path, document)
    port = free_port()
    textfile = tmp_path / "agentflow.prom"
    started = start_cli(
        path, "--no-progress", "--metrics-port", str(port), "--metrics-file", textfile, cwd=tmp_path
    )
    try:
        _wait_for_health(started, port)
        _scrape_until(port, lambda m: total(m, "agentflow_agents_running") == 3)
        started.process.send_signal(signal.SIGTERM)
    finally:
        outcome = started.finish()
    assert outcome.returncode == 143, outcome.describe()
    assert _refused(port)
    final = parse(textfile.read_text())
    assert final[("agentflow_run_exit_code", ())] == 143
    assert final[("agentflow_run_in_progress", ())] == 0
    abandoned = [e for e in of(outcome.events(), "llm.abandoned") if e["sent"]]
    assert len(abandoned) == 3
    assert total(final, "agentflow_llm_requests_total", outcome="cancelled") == 3
    assert total(final, "agentflow_unconfirmed_cost_usd_total") == pytest.approx(
        sum(e["unconfirmed_cost_usd"] for e in abandoned)
    )
    assert total(final, "agentflow_agents_skipped_total", reason="cancelled") == 3
    assert total(final, "agentflow_agents_running") == 0

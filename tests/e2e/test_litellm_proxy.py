"""agentflow behind a real LiteLLM proxy (litellm[proxy], pinned), in front of the fake provider.

One proxy, one `agentflow run` of two workflow files: an alias under the router's rpm with
no `limits:` (every agent completes), the gateway's reported cost recorded for the unpriced
alias, the same alias priced with `same_as:`, and the messages of a wrong key and an unknown
model. The proxy's virtual environment is installed once into tests/.litellm_proxy_cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import cli_env, of, run_cli, write_workflow
from tests.e2e.litellm_proxy import ALIAS, LiteLLMProxy
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

RPM = 10
AGENTS = 10  # per workflow file: 20 calls against 10 a minute, so the router refuses some
PRICED_AGENTS = 2


def _flow(proxy: LiteLLMProxy, name: str, count: int, **extra: object) -> dict[str, object]:
    agents: dict[str, object] = {f"a{i}": {"prompt": f"Say {i}."} for i in range(count)}
    return {
        "name": name,
        "defaults": {
            "model": f"openai/{ALIAS}",
            "max_tokens": 20,
            "api_base": proxy.base_url,
            "api_key_env": "GATEWAY_KEY",
        },
        "agents": agents,
        **extra,
    }


@pytest.mark.timeout(900)  # the first run installs litellm[proxy] (about a minute from PyPI)
def test_an_alias_behind_the_litellm_proxy(fake_server: FakeLLMServer, tmp_path: Path) -> None:
    with LiteLLMProxy(upstream=fake_server.base_url, rpm=RPM, folder=tmp_path) as proxy:
        unpriced = _flow(proxy, "unpriced", AGENTS)
        unpriced["agents"].update(  # type: ignore[union-attr]
            {
                "wrong_model": {"prompt": "Hi.", "model": "openai/team-gptx", "critical": False},
                "wrong_key": {"prompt": "Hi.", "api_key_env": "WRONG_KEY", "critical": False},
            }
        )
        alias = {f"openai/{ALIAS}": {"same_as": "openai/gpt-4o-mini"}}
        priced = _flow(proxy, "priced", PRICED_AGENTS, pricing=alias)
        first = write_workflow(tmp_path, unpriced, "unpriced.yaml")
        second = write_workflow(tmp_path, priced, "priced.yaml")
        env = cli_env(GATEWAY_KEY=proxy.master_key, WRONG_KEY="sk-not-the-master-key")
        run = run_cli(
            first, second, "--format", "json", "--no-progress", cwd=tmp_path, env=env, timeout=200
        )
    doc = json.loads(run.stdout)
    events = run.events()
    failed = {e["agent"]: e for e in of(events, "agent.failed")}
    # Every agent of the alias completed, with no limits: declared, under the router's rpm.
    assert doc["totals"]["agents"]["completed"] == AGENTS + PRICED_AGENTS, run.describe()
    assert set(failed) == {"wrong_model", "wrong_key"}, run.describe()
    assert sum(1 for r in fake_server.requests if r.status == 200) == AGENTS + PRICED_AGENTS
    # The router's rpm bound: its 429s (wait in llm_provider-retry-after) cost no attempt.
    retries = of(events, "llm.retry")
    assert retries and all(e.get("counted") is False for e in retries)
    adjusted = of(events, "ratelimit.adjusted")
    # Once the proxy's x-ratelimit-* headers said 10 a minute, the key never went above.
    known = next(i for i, a in enumerate(adjusted) if a["provider_rpm"] == RPM)
    assert all(a["rpm"] is not None and a["rpm"] <= RPM for a in adjusted[known:])
    # The gateway's cost is the unpriced alias's cost; the same_as price wins where declared.
    responses = of(events, "llm.response")
    by_source = {
        wf: {e["cost_source"] for e in responses if e["workflow"] == wf}
        for wf in ("unpriced", "priced")
    }
    assert by_source == {"unpriced": {"provider"}, "priced": {"pricing"}}
    assert all(e["cost_usd"] > 0 for e in responses)
    # The gateway's unknown model and a refused key say what to fix.
    assert failed["wrong_model"]["error_class"] == "not_found"
    assert (
        f"the gateway at {proxy.base_url} has no model 'team-gptx'"
        in failed["wrong_model"]["message"]
    )
    assert failed["wrong_key"]["error_class"] == "authentication"
    assert "WRONG_KEY" in failed["wrong_key"]["message"]
    assert "sk-not-the-master-key" not in run.stdout + run.stderr

"""Which prompt-token count a run uses: exact where a budget or token limit decides with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow.events.bus import EventBus
from agentflow.model.types import Budget, Limit, OutputSpec, Tool, Workflow, freeze
from agentflow.plan.estimate import _fixed_prompt_tokens
from agentflow.plan.tokens import bound_messages, count_messages
from agentflow.run import calls as calls_module
from agentflow.run import engine as engine_module
from agentflow.run.clock import run_virtual, virtual_clock
from agentflow.run.engine import Engine, Instance, RunSettings

from .test_engine import FakeClient, agent, run, workflow

PROMPT = "Summarise the ledger for Zoë in one line, 日本 🙂"
MODEL = "openai/gpt-4o-mini"


def _estimates(recorder: object) -> list[int]:
    return [e.data["prompt_tokens_est"] for e in recorder.named("llm.request")]  # type: ignore[attr-defined]


def test_without_budget_or_token_limit_no_tokenizer_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("the run loaded a tokenizer it did not need")

    monkeypatch.setattr(engine_module, "tokenizer_for", refuse)
    monkeypatch.setattr(calls_module, "count_messages", refuse)
    wf = workflow(agent("a", prompt=PROMPT), limits=(Limit(key="*", rpm=600),))
    result, recorder, _ = run(wf)
    assert result.status == "ok"
    # the bound is what the event reports, and it is never below the exact count
    assert _estimates(recorder) == [bound_messages(MODEL, [("user", PROMPT)])]
    assert _estimates(recorder)[0] >= count_messages(MODEL, [("user", PROMPT)])


@pytest.mark.parametrize(
    "setting",
    ["run budget", "workflow budget", "agent budget", "tpm", "tph", "tpd"],
)
def test_a_budget_or_token_limit_counts_the_prompt_exactly(setting: str) -> None:
    budget = Budget(max_usd=5.0)
    fields: dict[str, object] = {}
    agent_fields: dict[str, object] = {"prompt": PROMPT}
    if setting == "workflow budget":
        fields["budget"] = budget
    elif setting == "agent budget":
        agent_fields["budget"] = budget
    elif setting.startswith("tp"):
        fields["limits"] = (Limit(key="*", **{setting: 10_000_000}),)
    wf = workflow(agent("a", **agent_fields), **fields)
    result, recorder, _ = run(wf, budget_usd=5.0 if setting == "run budget" else None)
    assert result.status == "ok"
    assert _estimates(recorder) == [count_messages(MODEL, [("user", PROMPT)])]


def _prepared(wf: Workflow, budget_usd: float | None = None) -> list[str]:
    """The models whose tokenizer `Engine.prepare` loads for `wf`."""
    loaded: list[str] = []

    async def main() -> None:
        clock = virtual_clock()
        engine = Engine(
            client=FakeClient(),
            clock=clock,
            bus=EventBus("run-1", clock.wall, []),
            settings=RunSettings(run_id="run-1", budget_usd=budget_usd, seed=1),
        )
        await engine.prepare([Instance(wf, 0, {})])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "tokenizer_for", loaded.append)
        run_virtual(main())
    return loaded


def test_tokenizers_are_preloaded_only_when_a_count_will_be_exact() -> None:
    plain = workflow(agent("a", prompt=PROMPT), limits=(Limit(key="*", rpm=60),))
    assert _prepared(plain) == []
    assert _prepared(plain, budget_usd=1.0) == [MODEL]
    limited = workflow(agent("a", prompt=PROMPT), limits=(Limit(key="*", tpm=1000),))
    assert _prepared(limited) == [MODEL]


@pytest.mark.parametrize("budgeted", [True, False])
def test_tool_definitions_and_the_output_schema_count_as_plan_counts_them(
    budgeted: bool, tmp_path: Path
) -> None:
    # A reservation that left out what travels with every call could let a budget be
    # passed: the tool's definition and the output schema are counted (exactly under a
    # budget, bounded without), exactly as `plan` counts them.
    (tmp_path / "t.py").write_text("async def lookup(q: str):\n    return q\n")
    parameters = {
        "type": "object",
        "properties": {f"field_{n}": {"type": "string", "enum": ["a", "b"]} for n in range(20)},
    }
    tool = Tool(
        "lookup", "Find a ledger row. " * 20, freeze(parameters), python="t:lookup",
        base_dir=tmp_path,
    )  # fmt: skip
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}}
    fields: dict[str, object] = {"prompt": PROMPT, "tools": ("lookup",)}
    fields["output"] = OutputSpec(format="json", schema=freeze(schema))
    wf = workflow(agent("a", **fields), tools=(tool,))
    result, recorder, client = run(wf, budget_usd=5.0 if budgeted else None)
    assert result.status == "ok"
    sent = [(m.role, m.content or "") for m in client.calls[0].messages]
    fixed = _fixed_prompt_tokens(wf.agents[0], wf)
    assert fixed > 500  # the definitions are most of this prompt
    estimate = _estimates(recorder)[0]
    if budgeted:
        assert estimate == count_messages(MODEL, sent) + fixed
    else:
        assert estimate >= count_messages(MODEL, sent) + fixed

"""Python and command tools through both wire formats (OpenAI and Anthropic), over HTTP."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import of, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer, Recorded

pytestmark = pytest.mark.e2e

PY_MARK, CMD_MARK = "PY-RESULT-7731", "CMD-RESULT-4412"

TOOL_MODULE = f'''
def lookup_employee(employee_id: str) -> dict:
    return {{"employee_id": employee_id, "name": "Ada Lovelace", "tag": "{PY_MARK}"}}
'''

TOOL_COMMAND = f'''#!{sys.executable}
import json, sys

request = json.load(sys.stdin)
json.dump({{"department": request["department"], "tasks": ["laptop"], "tag": "{CMD_MARK}"}}, sys.stdout)
'''


def _tools(folder: Path) -> dict[str, Any]:
    (folder / "hr_tools").mkdir()
    (folder / "hr_tools" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "hr_tools" / "directory.py").write_text(TOOL_MODULE, encoding="utf-8")
    script = folder / "checklist.py"
    script.write_text(TOOL_COMMAND, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {
        "lookup_employee": {
            "description": "Find an employee record by id, for example E1002.",
            "parameters": {
                "type": "object",
                "properties": {"employee_id": {"type": "string"}},
                "required": ["employee_id"],
                "additionalProperties": False,
            },
            "python": "hr_tools.directory:lookup_employee",
        },
        "onboarding_checklist": {
            "description": "The onboarding checklist of a department.",
            "parameters": {
                "type": "object",
                "properties": {"department": {"type": "string"}},
                "required": ["department"],
                "additionalProperties": False,
            },
            "command": ["./checklist.py"],
        },
    }


def _tool_results(record: Recorded) -> list[str]:
    """The tool results a request carries, in either wire format."""
    texts = []
    for message in record.body.get("messages", []):
        if message.get("role") == "tool":
            texts.append(str(message.get("content")))
        content = message.get("content")
        if isinstance(content, list):
            texts.extend(
                json.dumps(block.get("content"))
                for block in content
                if isinstance(block, dict) and block.get("type") == "tool_result"
            )
    return texts


def test_both_wire_formats_call_python_and_command_tools_and_send_the_results_back(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    both = ["lookup_employee", "onboarding_checklist"]
    flow = write_workflow(
        tmp_path,
        {
            "name": "tool_use",
            "defaults": {"max_tokens": 300},
            "tools": _tools(tmp_path),
            "agents": {
                "via_openai": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": fake_server.base_url,
                    "prompt": "Prepare onboarding for E1002. [[tools]]",
                    "tools": both,
                },
                "via_anthropic": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": fake_server.url,
                    "prompt": "Prepare onboarding for E1002. [[tools]]",
                    "tools": both,
                },
            },
        },
    )

    run = run_cli(flow, cwd=tmp_path, run_id="r-tools")

    assert run.returncode == 0, run.describe()
    events = run.events()
    for agent in ("via_openai", "via_anthropic"):
        calls = [e for e in of(events, "tool.call") if e["agent"] == agent]
        results = [e for e in of(events, "tool.result") if e["agent"] == agent]
        assert sorted(c["tool"] for c in calls) == sorted(both), agent
        assert all(r["ok"] for r in results), results
        outputs = {r["tool"]: r["output"] for r in results}
        assert PY_MARK in outputs["lookup_employee"]
        assert CMD_MARK in outputs["onboarding_checklist"]
        assert {c["call_id"] for c in calls} == {r["call_id"] for r in results}

    openai = [r for r in fake_server.requests if r.path == "/v1/chat/completions"]
    anthropic = [r for r in fake_server.requests if r.path == "/v1/messages"]
    assert len(openai) == 2 and len(anthropic) == 2
    for first, second in (openai, anthropic):
        assert _tool_results(first) == []
        sent_back = " ".join(_tool_results(second))
        assert PY_MARK in sent_back and CMD_MARK in sent_back, second.body
    # The OpenAI format answers each call with a `role: tool` message naming its id.
    tool_messages = [m for m in openai[1].body["messages"] if m.get("role") == "tool"]
    assert len(tool_messages) == 2
    assistant_calls = [m for m in openai[1].body["messages"] if m.get("tool_calls")]
    ids = {c["id"] for m in assistant_calls for c in m["tool_calls"]}
    assert {m["tool_call_id"] for m in tool_messages} == ids
    # The Anthropic format answers with `tool_result` blocks naming the tool_use ids.
    blocks = [
        b
        for m in anthropic[1].body["messages"]
        if isinstance(m.get("content"), list)
        for b in m["content"]
    ]
    uses = {b["id"] for b in blocks if b.get("type") == "tool_use"}
    assert {b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"} == uses
    assert len(uses) == 2

"""The tool runner: argument checks, Python and command handlers, and the example tools."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from agentflow.check.tools import check_tool_handler
from agentflow.model.types import Tool, freeze
from agentflow.run.tools import MAX_OUTPUT_BYTES, ToolOutcome, ToolRunner, import_tool_handler

FIXTURES = Path(__file__).parent / "tool_fixtures"
SCRIPTS = FIXTURES / "scripts"
WORKFLOWS = Path(__file__).parents[2] / "workflows"

OPEN = freeze({"type": "object"})


def py_tool(name: str, function: str, *, parameters: Any = OPEN, **kw: Any) -> Tool:
    params = parameters if parameters is OPEN else freeze(parameters)
    return Tool(
        name,
        f"test tool {name}",
        params,
        python=f"tools.sample:{function}",
        base_dir=FIXTURES,
        **kw,
    )


def cmd_tool(name: str, *argv: str, timeout: float = 30.0) -> Tool:
    return Tool(name, "", OPEN, command=argv, timeout=timeout, base_dir=FIXTURES)


def call(tools: list[Tool], name: str, arguments: Any = None) -> ToolOutcome:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return asyncio.run(ToolRunner(tools).call(name, text))


# -- arguments ---------------------------------------------------------------------------

ADD_PARAMS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


def test_invalid_json_arguments_say_so_and_show_the_parameters() -> None:
    outcome = call([py_tool("add", "add", parameters=ADD_PARAMS)], "add", '{"a": 1, "b": ')
    assert not outcome.ok
    assert "not valid JSON" in outcome.content
    assert "line 1 column" in outcome.content
    assert '"required":["a","b"]' in outcome.content


def test_arguments_that_are_not_an_object_are_rejected() -> None:
    outcome = call([py_tool("add", "add", parameters=ADD_PARAMS)], "add", "[1, 2]")
    assert not outcome.ok
    assert "expected a JSON object, got list" in outcome.content


def test_schema_mismatch_lists_every_problem_without_running_the_handler() -> None:
    outcome = call([py_tool("add", "boom", parameters=ADD_PARAMS)], "add", {"a": "one", "c": 3})
    assert not outcome.ok
    assert "invalid arguments for tool 'add'" in outcome.content
    assert "'b' is a required property" in outcome.content
    assert "at 'a': 'one' is not of type 'integer'" in outcome.content
    assert "'c' was unexpected" in outcome.content
    assert "ValueError" not in outcome.content  # the handler never ran


def test_empty_argument_text_means_no_arguments() -> None:
    outcome = call([py_tool("nothing", "nothing")], "nothing", "  ")
    assert outcome == ToolOutcome(True, "null", outcome.duration_s)


def test_unknown_tool_lists_the_available_tools_and_suggests_one() -> None:
    tools = [py_tool("add", "add"), py_tool("greet", "greet")]
    outcome = call(tools, "gret", {})
    assert not outcome.ok
    assert (
        outcome.content
        == "unknown tool 'gret' (did you mean 'greet'?); available tools: add, greet"
    )


def test_duration_comes_from_the_injected_clock() -> None:
    ticks = iter([100.0, 102.5])
    runner = ToolRunner([py_tool("greet", "greet")], clock_monotonic=lambda: next(ticks))
    outcome = asyncio.run(runner.call("greet", '{"name": "Ada"}'))
    assert outcome == ToolOutcome(ok=True, content="Hello, Ada!", duration_s=2.5)


# -- python handlers ---------------------------------------------------------------------


def test_sync_function_gets_keyword_arguments_and_runs_in_a_worker_thread() -> None:
    outcome = call([py_tool("add", "add", parameters=ADD_PARAMS)], "add", {"a": 2, "b": 40})
    assert outcome.ok
    result = json.loads(outcome.content)
    assert result["sum"] == 42
    assert result["thread"] != "MainThread"


def test_string_results_are_sent_as_is() -> None:
    assert call([py_tool("greet", "greet")], "greet", {"name": "Ada"}).content == "Hello, Ada!"


def test_none_and_non_json_values_are_serialised() -> None:
    tools = [py_tool("nothing", "nothing"), py_tool("today", "today")]
    assert call(tools, "nothing").content == "null"
    assert json.loads(call(tools, "today").content) == {"day": "2025-03-14"}


def test_async_function_is_awaited() -> None:
    outcome = call([py_tool("echo", "async_echo")], "echo", {"text": "hi"})
    assert outcome.ok
    assert json.loads(outcome.content) == ["hi", "HI"]


def test_a_raising_handler_reports_type_and_message_without_a_traceback() -> None:
    outcome = call([py_tool("boom", "boom")], "boom", {"reason": "ledger is closed"})
    assert outcome == ToolOutcome(False, "ValueError: ledger is closed", outcome.duration_s)


def test_wrong_keyword_arguments_come_back_as_a_type_error() -> None:
    outcome = call([py_tool("greet", "greet")], "greet", {"who": "Ada"})
    assert not outcome.ok
    assert outcome.content.startswith("TypeError: ")
    assert "who" in outcome.content


def test_sys_exit_in_a_tool_does_not_stop_the_process() -> None:
    outcome = call([py_tool("exits", "exits")], "exits")
    assert outcome == ToolOutcome(False, "SystemExit: 3", outcome.duration_s)


def test_python_results_are_capped() -> None:
    outcome = call([py_tool("huge", "huge")], "huge")
    assert outcome.ok
    assert outcome.content.startswith("x" * 1000)
    assert len(outcome.content) < MAX_OUTPUT_BYTES + 200
    assert f"first {MAX_OUTPUT_BYTES} of 200000 bytes" in outcome.content


@pytest.mark.parametrize("function", ["slow_sync", "slow_async"])
def test_a_slow_python_tool_times_out(function: str) -> None:
    tool = py_tool("slow", function, timeout=0.2)
    outcome = call([tool], "slow", {"seconds": 1.0})
    assert outcome == ToolOutcome(False, "tool 'slow' timed out after 0.2s", outcome.duration_s)
    # The answer comes back at the timeout (a sync function's thread finishes on its own).
    assert 0.2 <= outcome.duration_s < 0.9


def test_missing_module_is_reported_with_the_file_it_looked_for() -> None:
    tool = Tool("t", "", OPEN, python="tools.nowhere:f", base_dir=FIXTURES)
    outcome = call([tool], "t")
    assert not outcome.ok
    expected = (
        f"tool 't': module 'tools.nowhere' not found: no file {FIXTURES / 'tools' / 'nowhere.py'}"
    )
    assert outcome.content == expected
    assert check_tool_handler(tool) == expected


def test_missing_function_is_reported_with_a_suggestion() -> None:
    tool = py_tool("t", "gret")
    problem = check_tool_handler(tool)
    assert problem is not None
    assert "module 'tools.sample'" in problem
    assert "has no function 'gret'; did you mean 'greet'?" in problem
    assert call([tool], "t").content == problem


def test_a_module_failing_at_import_is_reported_by_the_import_not_the_static_check() -> None:
    tool = Tool("t", "", OPEN, python="tools.broken:f", base_dir=FIXTURES)
    assert check_tool_handler(tool) is not None  # it parses, but defines no 'f'
    problem = import_tool_handler(tool)
    assert problem == (
        "tool 't': importing module 'tools.broken' failed: "
        "RuntimeError: database URL is not configured"
    )


@pytest.mark.parametrize("reference", ["tools.sample", "tools/sample.py:add", "tools.sample:"])
def test_a_malformed_python_reference_is_reported(reference: str) -> None:
    problem = check_tool_handler(Tool("t", "", OPEN, python=reference, base_dir=FIXTURES))
    assert problem is not None
    assert "must look like 'package.module:function'" in problem


def test_a_non_callable_attribute_is_reported() -> None:
    assert check_tool_handler(py_tool("t", "NOT_A_FUNCTION")) == (
        "tool 't': 'tools.sample:NOT_A_FUNCTION' is not a function"
    )


def test_check_tool_handler_accepts_runnable_tools() -> None:
    assert check_tool_handler(py_tool("t", "add")) is None
    assert check_tool_handler(cmd_tool("c", "./scripts/echo_json.py")) is None
    assert check_tool_handler(cmd_tool("c", sys.executable, "-c", "pass")) is None


def test_modules_resolve_relative_to_each_base_dir_without_touching_sys_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "sample.py").write_text("def marker():\n    return 'tmp'\n")
    path_before = list(sys.path)
    ours = py_tool("ours", "marker")
    theirs = Tool("theirs", "", OPEN, python="tools.sample:marker", base_dir=tmp_path)
    assert call([ours, theirs], "ours").content == "fixtures"
    assert call([ours, theirs], "theirs").content == "tmp"
    assert sys.path == path_before
    assert "tools" not in sys.modules
    assert "tools.sample" not in sys.modules


def test_a_module_is_imported_once_per_base_dir(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "counter.py").write_text(
        "LOADS = []\nLOADS.append(1)\n\ndef loads():\n    return len(LOADS)\n"
    )
    tool = Tool("loads", "", OPEN, python="tools.counter:loads", base_dir=tmp_path)
    assert check_tool_handler(tool) is None
    outcomes = [call([tool], "loads") for _ in range(3)]
    assert [o.content for o in outcomes] == ["1", "1", "1"]


def test_a_tool_module_can_import_its_siblings_relatively(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "rates.py").write_text("VAT = 0.2\n")
    (tmp_path / "lib" / "tax.py").write_text(
        "from .rates import VAT\n\ndef gross(net):\n    return round(net * (1 + VAT), 2)\n"
    )
    tool = Tool("gross", "", OPEN, python="lib.tax:gross", base_dir=tmp_path)
    assert call([tool], "gross", {"net": 100}).content == "120.0"


# -- command handlers --------------------------------------------------------------------


def test_command_gets_json_on_stdin_runs_in_the_base_dir_and_stdout_is_stripped() -> None:
    tool = cmd_tool("echo", "./scripts/echo_json.py", "--flag")
    outcome = call([tool], "echo", {"q": "ünïcode", "n": 3})
    assert outcome.ok
    assert not outcome.content.endswith("\n")
    assert json.loads(outcome.content) == {
        "received": {"q": "ünïcode", "n": 3},
        "cwd": str(FIXTURES.resolve()),
        "argv": ["--flag"],
    }


def test_command_program_is_found_on_path_when_it_has_no_slash() -> None:
    tool = cmd_tool("py", "python3", "-c", "import sys, json; print(json.load(sys.stdin)['v'])")
    assert call([tool], "py", {"v": 7}).content == "7"


def test_non_zero_exit_reports_the_code_and_the_tail_of_stderr() -> None:
    outcome = call([cmd_tool("fail", "./scripts/fail.py")], "fail")
    assert not outcome.ok
    assert outcome.content.startswith("tool 'fail': command exited with code 3; stderr:\n")
    tail = outcome.content.split("stderr:\n", 1)[1].splitlines()
    assert tail == [f"stderr line {n}" for n in range(11, 21)]
    assert "partial output" not in outcome.content


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_timeout_kills_the_command_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    tool = cmd_tool("hang", "./scripts/hang.py", timeout=1.5)
    started = time.monotonic()
    outcome = call([tool], "hang", {"pid_file": str(pid_file)})
    assert outcome == ToolOutcome(False, "tool 'hang' timed out after 1.5s", outcome.duration_s)
    assert time.monotonic() - started < 5
    child, parent = (int(p) for p in pid_file.read_text().split())
    deadline = time.monotonic() + 5
    while (_alive(child) or _alive(parent)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(parent)
    assert not _alive(child)


def test_command_output_is_capped_with_a_note() -> None:
    outcome = call([cmd_tool("flood", "./scripts/flood.py")], "flood")
    assert outcome.ok
    body, note = outcome.content.rsplit("\n", 1)
    assert body == "y" * MAX_OUTPUT_BYTES
    assert note == f"[output truncated: showing the first {MAX_OUTPUT_BYTES} of 300000 bytes]"


def test_missing_or_non_executable_commands_are_reported(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    not_executable = Tool("ne", "", OPEN, command=("./tool.sh",), base_dir=tmp_path)
    missing = Tool("mi", "", OPEN, command=("./nope.sh",), base_dir=tmp_path)
    not_on_path = Tool("np", "", OPEN, command=("agentflow-no-such-program",), base_dir=tmp_path)
    assert "is not executable" in (check_tool_handler(not_executable) or "")
    assert check_tool_handler(missing) == (
        f"tool 'mi': command './nope.sh' not found: no file {tmp_path.resolve() / 'nope.sh'}"
    )
    assert check_tool_handler(not_on_path) == (
        "tool 'np': command 'agentflow-no-such-program' not found on PATH"
    )
    outcome = call([missing], "mi")
    assert not outcome.ok
    assert outcome.content == check_tool_handler(missing)


# -- the example workflows' tools ---------------------------------------------------------

# Arguments a model would plausibly send, per workflow and tool. Every tool declared in
# workflows/*.yaml must appear here, so a new example tool gets exercised.
EXAMPLE_CALLS: dict[tuple[str, str], dict[str, Any]] = {
    ("hr_onboarding", "find_interviewers"): {
        "skills": ["python", "system design", "postgresql"],
        "department": "Engineering",
    },
    ("hr_onboarding", "propose_interview_slots"): {
        "interviewer_ids": ["E1002", "E1003", "E1004"],
        "earliest_date": "2025-03-17",
        "duration_minutes": 60,
    },
    ("hr_onboarding", "lookup_employee"): {"employee_id": "E1002"},
    ("hr_onboarding", "onboarding_checklist"): {
        "department": "Engineering",
        "start_date": "2025-04-07",
    },
    ("finance_invoice_processing", "find_purchase_order"): {"po_number": "PO-4500140"},
    ("finance_invoice_processing", "lookup_vendor"): {"name": "Brightline Logistics GmbH"},
    ("finance_invoice_processing", "payment_dates"): {
        "invoice_date": "2025-03-03",
        "payment_terms": "2/10 net 30",
        "amount": 2909.0,
    },
    ("inventory_reorder", "get_stock_levels"): {"warehouse": "WH-EAST"},
    ("inventory_reorder", "get_sales_history"): {"sku": "SKU-1002", "warehouse": "WH-EAST"},
    ("inventory_reorder", "search_suppliers"): {"sku": "SKU-1001", "quantity": 600},
    ("compliance_audit", "get_policy"): {"policy_id": "POL-FIN-07"},
    ("compliance_audit", "fetch_evidence"): {
        "policy_id": "POL-AC-01",
        "department": "Finance",
        "period": "2025-Q1",
    },
}


def _example_tools() -> Iterator[tuple[str, Tool]]:
    yaml = YAML(typ="safe")
    for path in sorted(WORKFLOWS.glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"))
        for name, spec in (data.get("tools") or {}).items():
            timeout = str(spec.get("timeout", "30s"))
            yield (
                data["name"],
                Tool(
                    name=name,
                    description=spec["description"],
                    parameters=freeze(spec["parameters"]),
                    python=spec.get("python"),
                    command=tuple(spec["command"]) if "command" in spec else None,
                    timeout=float(timeout.removesuffix("s")),
                    base_dir=path.parent,
                ),
            )


EXAMPLE_TOOLS = list(_example_tools())


def test_every_example_tool_has_sample_arguments_here() -> None:
    declared = {(workflow, tool.name) for workflow, tool in EXAMPLE_TOOLS}
    assert declared == set(EXAMPLE_CALLS)


def test_examples_use_python_and_command_tools() -> None:
    assert any(t.python for _, t in EXAMPLE_TOOLS)
    assert any(t.command for _, t in EXAMPLE_TOOLS)


@pytest.mark.parametrize(
    ("workflow", "tool"), EXAMPLE_TOOLS, ids=[f"{w}.{t.name}" for w, t in EXAMPLE_TOOLS]
)
def test_example_tool_answers_sample_arguments(workflow: str, tool: Tool) -> None:
    assert check_tool_handler(tool) is None
    arguments = EXAMPLE_CALLS[(workflow, tool.name)]
    outcome = call([tool], tool.name, arguments)
    assert outcome.ok, outcome.content
    result = json.loads(outcome.content)
    assert isinstance(result, dict)
    assert result.get("found", True) is True
    assert outcome.duration_s < tool.timeout
    # Deterministic: the same call gives the same answer.
    assert call([tool], tool.name, arguments).content == outcome.content


def _tool(workflow: str, name: str) -> Tool:
    return next(t for w, t in EXAMPLE_TOOLS if w == workflow and t.name == name)


def _result(workflow: str, name: str) -> Any:
    return json.loads(call([_tool(workflow, name)], name, EXAMPLE_CALLS[(workflow, name)]).content)


def test_hr_tools_answer_with_directory_data() -> None:
    interviewers = _result("hr_onboarding", "find_interviewers")["interviewers"]
    assert [i["id"] for i in interviewers] == ["E1002", "E1003", "E1004"]  # ties by id
    assert interviewers[1]["matched_skills"] == ["python", "system design"]
    slots = _result("hr_onboarding", "propose_interview_slots")["slots"]
    assert slots["E1003"]["free_slots"][0] == "2025-03-17T09:00"
    assert all(len(s["free_slots"]) == 3 for s in slots.values())
    checklist = _result("hr_onboarding", "onboarding_checklist")
    assert checklist["department_specific"] is True
    assert {
        "task": "Complete right-to-work and tax forms",
        "owner": "New hire",
        "due": "2025-04-07",
    } in checklist["tasks"]


def test_finance_tools_expose_the_variances_the_example_is_about() -> None:
    po = _result("finance_invoice_processing", "find_purchase_order")
    assert po["lines"][0]["received_quantity"] == 8
    assert _result("finance_invoice_processing", "lookup_vendor")["bank_details_verified"] is False
    dates = _result("finance_invoice_processing", "payment_dates")
    assert dates["due_date"] == "2025-04-02"
    assert dates["discount"] == {
        "percent": 2.0,
        "pay_by": "2025-03-13",
        "saving": 58.18,
        "amount_if_taken": 2850.82,
    }
    assert dates["payment_run"] == "2025-03-13"


def test_inventory_and_compliance_tools_answer_from_sample_data() -> None:
    stock = {i["sku"]: i for i in _result("inventory_reorder", "get_stock_levels")["items"]}
    assert stock["SKU-1005"]["available"] == -24
    assert stock["SKU-1002"]["below_reorder_point"] is True
    offers = _result("inventory_reorder", "search_suppliers")["offers"]
    assert [o["supplier_id"] for o in offers] == ["SUP-201", "SUP-202"]
    assert offers[1]["order_quantity"] == 1000  # raised to the supplier's minimum
    evidence = _result("compliance_audit", "fetch_evidence")
    assert evidence["record_count"] == 3


def test_example_tools_answer_unknown_ids_with_something_the_model_can_use() -> None:
    outcome = call(
        [_tool("hr_onboarding", "lookup_employee")], "lookup_employee", {"employee_id": "X9"}
    )
    assert not outcome.ok
    assert outcome.content.startswith("LookupError: no employee with id 'X9'")
    assert "E1002" in outcome.content
    po = call(
        [_tool("finance_invoice_processing", "find_purchase_order")],
        "find_purchase_order",
        {"po_number": "PO-1"},
    )
    assert po.ok
    assert json.loads(po.content)["found"] is False


def test_finance_invoice_defaults_mirror_the_sample_data_file() -> None:
    data = YAML(typ="safe").load((WORKFLOWS / "finance_invoice_processing.yaml").read_text())
    mirrored = json.loads((WORKFLOWS / "data" / "invoices.json").read_text())
    assert data["inputs"]["invoices"]["default"] == mirrored


def test_example_workflows_start_with_the_schema_modeline() -> None:
    for path in WORKFLOWS.glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/workflow.schema.json", path

"""Tool handlers are checked from their source: validate, plan and graph run no user code."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from agentflow.check.tools import check_tool_handler
from agentflow.core import analyze, load_workflow
from agentflow.errors import WorkflowInvalid
from agentflow.model.types import Tool, freeze
from tests.cli.helpers import invoke

OPEN = freeze({"type": "object"})

WORKFLOW = """\
version: 1
name: tooling
defaults: {{model: openai/gpt-4o-mini}}
tools:
  lookup:
    description: Look a record up.
    parameters: {{type: object, properties: {{id: {{type: string}}}}}}
    python: {reference}
agents:
  ask:
    prompt: Look up E1.
    tools: [lookup]
"""

# Importing this module leaves a marker file beside it, then fails: a check that imports it
# is caught either way.
EXPLODING = """\
from pathlib import Path

Path(__file__).with_name("IMPORTED").write_text("top-level code ran")
raise RuntimeError("this module must not be imported by validate")


def lookup(id: str) -> dict:
    return {"id": id}
"""


def write(folder: Path, relative: str, text: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def tool_for(folder: Path, reference: str) -> Tool:
    return Tool("lookup", "d", OPEN, python=reference, base_dir=folder)


def exploding_workflow(tmp_path: Path) -> Path:
    write(tmp_path, "tools/hr.py", EXPLODING)
    return write(tmp_path, "flow.yaml", WORKFLOW.format(reference="tools.hr:lookup"))


def test_validate_plan_and_graph_never_import_a_tool_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = exploding_workflow(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    before = set(sys.modules)

    analysis = analyze(flow)
    assert analysis.errors == (), [d.render() for d in analysis.errors]
    validate = invoke(["validate", str(flow)])
    plan = invoke(["plan", str(flow), "--format", "json"])
    graph = invoke(["graph", str(flow)])

    assert (validate.exit_code, plan.exit_code, graph.exit_code) == (0, 0, 0), (
        validate.stderr + plan.stderr + graph.stderr
    )
    assert not (tmp_path / "tools" / "IMPORTED").exists()
    assert not [m for m in set(sys.modules) - before if m.endswith("tools.hr")]


def test_run_imports_the_module_before_it_starts(tmp_path: Path) -> None:
    flow = exploding_workflow(tmp_path)
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow(flow, import_tools=True)
    (diag,) = caught.value.diagnostics
    assert diag.message == (
        "tool 'lookup': importing module 'tools.hr' failed: "
        "RuntimeError: this module must not be imported by validate"
    )
    assert (diag.line, diag.path) == (8, "tools.lookup.python")
    assert (tmp_path / "tools" / "IMPORTED").exists()


def test_a_missing_module_names_the_file_it_looked_for(tmp_path: Path) -> None:
    flow = write(tmp_path, "flow.yaml", WORKFLOW.format(reference="tools.nowhere:lookup"))
    (diag,) = analyze(flow).errors
    assert diag.message == (
        f"tool 'lookup': module 'tools.nowhere' not found: no file "
        f"{tmp_path.resolve() / 'tools' / 'nowhere.py'}"
    )
    assert (diag.file, diag.line, diag.column) == (str(flow), 8, 13)
    assert diag.path == "tools.lookup.python"


def test_a_syntax_error_gives_the_tool_files_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "tools/hr.py", "import json\n\n\ndef lookup(id:\n    return id\n")
    problem = check_tool_handler(tool_for(tmp_path, "tools.hr:lookup"))
    assert problem is not None
    assert problem.startswith(
        f"tool 'lookup': module 'tools.hr' has a syntax error at {path.resolve()}:4:"
    )
    assert "\n" not in problem


def test_a_syntax_error_in_a_parent_package_is_reported(tmp_path: Path) -> None:
    init = write(tmp_path, "tools/__init__.py", "x = (\n")
    write(tmp_path, "tools/hr.py", "def lookup(id):\n    return id\n")
    problem = check_tool_handler(tool_for(tmp_path, "tools.hr:lookup"))
    assert problem is not None
    assert f"has a syntax error at {init.resolve()}:1:" in problem


def test_a_missing_function_suggests_the_closest_one(tmp_path: Path) -> None:
    write(
        tmp_path,
        "tools/hr.py",
        """\
        def lookup_employee(id):
            return id

        def _lookup_employe_cache(id):
            return id
        """,
    )
    problem = check_tool_handler(tool_for(tmp_path, "tools.hr:lookup_employe"))
    assert problem == (
        f"tool 'lookup': module 'tools.hr' ({(tmp_path / 'tools' / 'hr.py').resolve()}) has no "
        "function 'lookup_employe'; did you mean 'lookup_employee'?"
    )


def test_a_name_bound_to_a_literal_is_not_a_function(tmp_path: Path) -> None:
    write(tmp_path, "tools/hr.py", "lookup = {'E1': 'Ada'}\n")
    assert check_tool_handler(tool_for(tmp_path, "tools.hr:lookup")) == (
        "tool 'lookup': 'tools.hr:lookup' is not a function"
    )


@pytest.mark.parametrize(
    "source",
    [
        "def lookup(id):\n    return id\n",
        "async def lookup(id):\n    return id\n",
        "class lookup:\n    def __init__(self, id):\n        self.id = id\n",
        "def make():\n    return print\n\nlookup = make()\n",
        "from json import dumps as lookup\n",
        "import json as lookup\n",
        "try:\n    from ._fast import lookup\nexcept ImportError:\n    def lookup(id):\n        return id\n",
        "import sys\nif sys.platform:\n    def lookup(id):\n        return id\n",
        "from os.path import *\n",
        "def __getattr__(name):\n    return print\n",
        "lookup: object = print\n",
    ],
    ids=[
        "def",
        "async",
        "class",
        "assigned",
        "from-import",
        "import-as",
        "try-except",
        "if",
        "star-import",
        "module-getattr",
        "annotated",
    ],
)
def test_top_level_bindings_that_may_be_functions_are_accepted(tmp_path: Path, source: str) -> None:
    write(tmp_path, "tools/hr.py", source)
    assert check_tool_handler(tool_for(tmp_path, "tools.hr:lookup")) is None


def test_a_function_defined_inside_another_is_not_top_level(tmp_path: Path) -> None:
    write(tmp_path, "tools/hr.py", "def outer():\n    def lookup(id):\n        return id\n")
    problem = check_tool_handler(tool_for(tmp_path, "tools.hr:lookup"))
    assert problem is not None and "has no function 'lookup'" in problem


def test_a_package_module_is_its_init_file(tmp_path: Path) -> None:
    write(tmp_path, "tools/hr/__init__.py", "def lookup(id):\n    return id\n")
    assert check_tool_handler(tool_for(tmp_path, "tools.hr:lookup")) is None
    assert check_tool_handler(tool_for(tmp_path, "tools.hr:other")) is not None


def test_an_edited_module_is_parsed_again(tmp_path: Path) -> None:
    path = write(tmp_path, "tools/hr.py", "def other(id):\n    return id\n")
    tool = tool_for(tmp_path, "tools.hr:lookup")
    assert check_tool_handler(tool) is not None
    path.write_text("def lookup(id):\n    return id\n# a longer file now\n", encoding="utf-8")
    assert check_tool_handler(tool) is None


def test_the_example_workflows_tools_pass_the_static_check() -> None:
    examples = sorted((Path(__file__).parents[2] / "workflows").glob("*.yaml"))
    assert examples
    for example in examples:
        analysis = analyze(example)
        assert not [d for d in analysis.errors if d.code == "tool_handler"], example


def test_the_run_command_imports_tool_modules_before_any_call(tmp_path: Path) -> None:
    from tests.e2e.cli import run_cli

    flow = exploding_workflow(tmp_path)
    outcome = run_cli(flow, "--mock", "--no-progress", cwd=tmp_path)
    assert outcome.returncode == 2, outcome.stderr
    assert "importing module 'tools.hr' failed: RuntimeError" in outcome.stderr
    assert (tmp_path / "tools" / "IMPORTED").exists()
    # Stopped before the run started: no run log, so no call was made.
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())

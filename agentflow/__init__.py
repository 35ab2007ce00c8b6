"""agentflow: declarative YAML workflows of LLM agents.

The Python API (see docs/api.md) is importable from here; it loads on first use, so
`import agentflow` stays instant and only a run imports LiteLLM:

    import agentflow
    report = agentflow.run_file("flow.yaml", mock=True, inputs={"text": "hello"})
    print(report.status, report.outputs)
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False  # not `from typing import ...`: importing typing costs a cold start ~40 ms
if TYPE_CHECKING:
    from typing import Any

    from agentflow.api import (
        PlanResult,
        RunReport,
        ValidationResult,
        arun_file,
        plan_file,
        run_file,
        validate_file,
    )

__all__ = [
    "PlanResult",
    "RunReport",
    "ValidationResult",
    "__version__",
    "arun_file",
    "plan_file",
    "run_file",
    "validate_file",
]

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from agentflow import api

        return getattr(api, name)
    raise AttributeError(f"module 'agentflow' has no attribute {name!r}")

"""The domain model: frozen dataclasses built once from a validated workflow file.

Nothing here imports a third-party package; later stages never see the raw dicts.
"""

from agentflow.model.types import (
    Agent,
    Budget,
    InputSpec,
    Limit,
    McpServer,
    OutputSpec,
    Position,
    Price,
    RetryPolicy,
    SourceMap,
    Tool,
    Workflow,
)

__all__ = [
    "Agent",
    "Budget",
    "InputSpec",
    "Limit",
    "McpServer",
    "OutputSpec",
    "Position",
    "Price",
    "RetryPolicy",
    "SourceMap",
    "Tool",
    "Workflow",
]

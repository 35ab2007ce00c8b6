"""The workflow as a DAG: cycles (for validate) and the compiled graph (levels, neighbours).

Both are pure Python; `agentflow.graph.compile` is imported where the graph itself is
needed (graph export, plan, run), not for validation.
"""

from agentflow.graph.cycles import find_cycle

__all__ = ["find_cycle"]

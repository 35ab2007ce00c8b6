"""The workflow as a DAG: cycles (pure Python, for validate) and the networkx graph.

`agentflow.graph.compile` is the only module that imports networkx; import it where the
graph itself is needed (graph export, plan, run), not for validation.
"""

from agentflow.graph.cycles import find_cycle

__all__ = ["find_cycle"]

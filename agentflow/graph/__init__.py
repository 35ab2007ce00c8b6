"""The workflow as a networkx DAG (the only package that imports networkx)."""

from agentflow.graph.compile import WorkflowGraph, compile_workflow, find_cycle

__all__ = ["WorkflowGraph", "compile_workflow", "find_cycle"]

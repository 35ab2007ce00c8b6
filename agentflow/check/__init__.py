"""Semantic checks: what JSON Schema cannot see (references, cycles, tools, prices)."""

from agentflow.check.semantic import SemanticResult, check_semantics

__all__ = ["SemanticResult", "check_semantics"]

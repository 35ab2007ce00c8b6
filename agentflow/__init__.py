"""agentflow: declarative YAML workflows of LLM agents."""

__version__ = "0.1.0"

"""The LLM boundary: request/response records and the client protocol.

Only `agentflow.llm.litellm_client` imports litellm, and only when a run starts.
"""

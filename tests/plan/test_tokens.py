"""Token counting: exact for OpenAI models, a documented fallback otherwise, never online."""

from __future__ import annotations

import math
import socket

import pytest

from agentflow.plan import tokens
from agentflow.plan.tokens import count_messages, count_tokens, tokenizer_for

TEXT = "Extract name, skills and years of experience from the resume below."


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("token counting tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_encoders_load_from_the_files_in_litellm_without_network(no_network: None) -> None:
    tokens._tiktoken.cache_clear()
    tokens._anthropic.cache_clear()
    tokenizer_for.cache_clear()
    assert tokenizer_for("openai/gpt-4o-mini")[0] == "o200k_base"
    assert tokenizer_for("gpt-4")[0] == "cl100k_base"
    assert tokenizer_for("anthropic/claude-sonnet-4-5")[0] == "anthropic"
    assert count_tokens("openai/gpt-4o-mini", "Hello world") == 2
    assert count_tokens("gpt-4-turbo", "Hello world") == 2
    assert count_tokens("anthropic/claude-sonnet-4-5", TEXT) > 0


def test_unknown_models_count_cl100k_times_the_fallback_factor() -> None:
    exact = count_tokens("gpt-4", TEXT)
    assert tokenizer_for("ollama/llama3")[0] == "cl100k_base*1.1"
    assert count_tokens("ollama/llama3", TEXT) == math.ceil(exact * tokens.FALLBACK_FACTOR)


def test_without_any_tokenizer_text_is_counted_as_chars_over_four(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens, "_tiktoken", lambda _name: None)
    monkeypatch.setattr(tokens, "_anthropic", lambda: None)
    tokenizer_for.cache_clear()
    try:
        assert tokenizer_for("gpt-4o")[0] == "chars/4"
        assert count_tokens("gpt-4o", "x" * 10) == 3
    finally:
        tokenizer_for.cache_clear()


def test_special_token_text_in_a_prompt_is_counted_as_plain_text() -> None:
    assert count_tokens("gpt-4o", "<|endoftext|>") > 1


def test_messages_add_three_tokens_each_plus_three_for_the_reply() -> None:
    system, user = "You are an HR analyst.", TEXT
    content = count_tokens("gpt-4o", system) + count_tokens("gpt-4o", user)
    roles = count_tokens("gpt-4o", "system") + count_tokens("gpt-4o", "user")
    assert count_messages("gpt-4o", [("system", system), ("user", user)]) == content + roles + 9

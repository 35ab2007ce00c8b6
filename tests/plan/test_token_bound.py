"""`bound_messages`: never below the exact count, and it loads no tokenizer."""

from __future__ import annotations

import random

import pytest

from agentflow.plan import tokens
from agentflow.plan.tokens import bound_messages, bound_tokens, count_messages, count_tokens

MODELS = (
    "openai/gpt-4o-mini",  # o200k_base
    "gpt-4",  # cl100k_base
    "anthropic/claude-sonnet-4-5",  # the Anthropic tokenizer (NFKC, byte-level BPE)
    "ollama/llama3",  # cl100k_base x 1.1
)

# Texts a tokenizer packs worst: single bytes, digits, punctuation runs, multi-byte
# scripts, emoji, and characters NFKC expands (U+FDFA becomes 18 characters).
HARD = (
    "a",
    " ",
    "\n\n\n",
    "1234567890" * 5,
    "!?!?;;::" * 10,
    "日本語のテキストです。" * 3,
    "🙂🙃🤖" * 7,
    "\ufdfa\ufdfa ﬁ ㎒ ½",
    "Ünïcödé wörds ànd àccents " * 4,
    "<|endoftext|> <|endofprompt|>",
    "\u200b\u200d\ufeff",
)


def _random_text(rng: random.Random) -> str:
    alphabet = "abc XYZ 0123 ,.;!\n\té日🙂\ufdfaﬁ"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))


@pytest.mark.parametrize("model", MODELS)
def test_the_bound_is_never_below_the_exact_count(model: str) -> None:
    rng = random.Random(18)
    texts = [*HARD, *(_random_text(rng) for _ in range(300))]
    for text in texts:
        assert bound_tokens(model, text) >= count_tokens(model, text), repr(text)
    messages = [("system", "You are terse."), ("user", HARD[7]), ("assistant", HARD[6])]
    assert bound_messages(model, messages) >= count_messages(model, messages)


def test_the_bound_is_the_byte_size_for_openai_models_and_a_tenth_more_for_others() -> None:
    assert bound_tokens("openai/gpt-4o-mini", "hello world") == 11
    assert bound_tokens("openai/gpt-4o-mini", "é") == 2  # UTF-8 bytes, not characters
    assert bound_tokens("openai/gpt-4o-mini", "\ufdfa") == 33  # its NFKC form is longer
    assert bound_tokens("ollama/llama3", "hello world") == 13  # ceil(11 x 1.1)
    assert bound_tokens("anthropic/claude-sonnet-4-5", "") == 0
    assert bound_messages("gpt-4", [("user", "hi")]) == 3 + 3 + 4 + 2


def test_the_bound_loads_no_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("a tokenizer was loaded")

    monkeypatch.setattr(tokens, "_tiktoken", refuse)
    monkeypatch.setattr(tokens, "_anthropic", refuse)
    monkeypatch.setattr(tokens, "tokenizer_for", refuse)
    for model in MODELS:
        assert bound_messages(model, [("user", "Hello 日本 🙂")]) > 0

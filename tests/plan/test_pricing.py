"""Price resolution: prefixes, dated variants, overrides, globs, unknown models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow.errors import UsageError
from agentflow.model.types import Price
from agentflow.plan.pricing import PriceBook, load_price_book


def test_provider_prefix_and_bare_name_find_the_same_bundled_entry() -> None:
    book = load_price_book()
    prefixed, bare = book.lookup("openai/gpt-4o-mini"), book.lookup("gpt-4o-mini")
    assert prefixed is not None and prefixed == bare
    assert prefixed.source == "litellm:gpt-4o-mini"
    assert prefixed.input_per_token > 0


def test_anthropic_prefix_resolves_to_the_bare_claude_entry() -> None:
    price = load_price_book().lookup("anthropic/claude-sonnet-4-5")
    assert price is not None
    assert price.source.startswith("litellm:claude-sonnet-4-5")


def _book(entries: dict[str, dict[str, float]]) -> PriceBook:
    return PriceBook(bundled=entries)


def test_dated_variant_is_used_when_unambiguous() -> None:
    book = _book(
        {"claude-x-20250101": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}
    )
    price = book.lookup("anthropic/claude-x")
    assert price is not None and price.source == "litellm:claude-x-20250101"


def test_dated_variants_with_different_prices_are_ambiguous() -> None:
    book = _book(
        {
            "gpt-z-2024-01-01": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            "gpt-z-2024-06-01": {"input_cost_per_token": 3e-6, "output_cost_per_token": 2e-6},
        }
    )
    assert book.lookup("gpt-z") is None


def test_unknown_model_has_no_price_and_no_cost_never_zero() -> None:
    book = load_price_book()
    assert book.lookup("acme/never-heard-of-it") is None
    assert book.cost("acme/never-heard-of-it", 1000, 1000) is None


def test_known_free_local_model_costs_zero_legitimately() -> None:
    book = load_price_book()
    assert book.cost("ollama/llama3", 1000, 1000) == 0.0


def test_workflow_pricing_is_per_million_and_wins_over_the_bundled_map() -> None:
    book = load_price_book([Price("openai/gpt-4o-mini", input=1.0, output=2.0)])
    price = book.lookup("openai/gpt-4o-mini")
    assert price is not None and price.source == "workflow:openai/gpt-4o-mini"
    assert book.cost("openai/gpt-4o-mini", 1_000_000, 500_000) == pytest.approx(2.0)


def test_glob_keys_match_and_exact_keys_beat_globs() -> None:
    book = load_price_book([Price("my-local/*", 0.0, 0.0), Price("my-local/big", 5.0, 5.0)])
    assert book.cost("my-local/small", 10, 10) == 0.0
    assert book.cost("my-local/big", 1_000_000, 0) == pytest.approx(5.0)


def test_pricing_file_wins_over_the_workflow(tmp_path: Path) -> None:
    file = tmp_path / "prices.json"
    file.write_text(json.dumps({"my-local/*": {"input": 1.0, "output": 1.0}}))
    book = load_price_book([Price("my-local/*", 0.0, 0.0)], file)
    price = book.lookup("my-local/x")
    assert price is not None and price.source == "pricing-file:my-local/*"
    assert book.identity["overrides"] == 2


@pytest.mark.parametrize(
    "content",
    ['{"m": {"input": 1}}', '{"m": {"input": "1", "output": 2}}', "[1]", "{not json"],
)
def test_a_malformed_pricing_file_is_a_usage_error(tmp_path: Path, content: str) -> None:
    file = tmp_path / "prices.json"
    file.write_text(content)
    with pytest.raises(UsageError, match=r"prices\.json"):
        load_price_book((), file)


def test_identity_names_the_litellm_version_and_the_price_file_hash() -> None:
    identity = load_price_book().identity
    assert identity["litellm_version"]
    assert len(identity["price_map_sha256"]) == 64
    assert identity["overrides"] == 0

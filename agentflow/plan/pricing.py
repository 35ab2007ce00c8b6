"""Model prices: LiteLLM's bundled price map plus the workflow's and the operator's overrides.

Prices are read from `model_prices_and_context_window_backup.json`, the map that ships inside
the installed litellm package. The file is located with `importlib.util.find_spec`, which does
not import litellm (importing it costs ~2.5 s), and is read once per process.

How a model name is resolved, first match wins:

1. `--pricing FILE` entries, then the workflow's `pricing:` entries (both USD per 1M tokens).
   Within each, an exact key beats a glob (`"my-local/*"`), and a longer glob beats a
   shorter one. A key matches the full model name or the name without its provider prefix.
   An entry `{same_as: other}` (a gateway alias) prices the model as `other`, resolved by
   these same rules; an alias whose target has no price (or that loops) has none.
2. The bundled map, by the full name (`"openai/gpt-4o-mini"`, `"ollama/llama3"`).
3. The bundled map, by the name without its provider prefix: `"openai/gpt-4o-mini"` finds
   `"gpt-4o-mini"`.
4. A dated variant of that bare name (`"claude-sonnet-4-5"` -> `"claude-sonnet-4-5-20250929"`,
   `"gpt-4o"` -> `"gpt-4o-2024-08-06"`), only when every such variant has the same price.

A bundled entry without `input_cost_per_token`/`output_cost_per_token` is not a price. A model
that is found with a price of 0 (local ollama models) costs $0 legitimately; a model that is not
found has an unknown price: `lookup` returns None and `cost` returns None, never 0.

    >>> book = load_price_book([Price("my-local/*", input=0.0, output=0.0)])
    >>> book.cost("openai/gpt-4o-mini", 1_000_000, 0)
    0.15
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from agentflow.errors import UsageError
from agentflow.model.types import Price, Workflow

PRICE_FILE_NAME = "model_prices_and_context_window_backup.json"
PER_MILLION = 1_000_000.0

# `-20250929`, `-2024-08-06`, `@20250929`, and Bedrock's `-20250929-v1:0` are not dated
# variants of a chat name: Bedrock ids carry their own prefix and are found by full name.
_DATE_SUFFIX = re.compile(r"^[-@](?:\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """The price of one model in USD per token, and where it came from.

    `source` is `"pricing-file:<key>"`, `"workflow:<key>"` or `"litellm:<key>"`.
    """

    input_per_token: float
    output_per_token: float
    source: str


@dataclass(frozen=True, slots=True)
class _BundledMap:
    entries: Mapping[str, Mapping[str, Any]]
    sha256: str
    path: str


@dataclass(frozen=True, slots=True)
class _Override:
    key: str
    price: ModelPrice | None
    same_as: str | None = None  # an alias: priced as this model

    @property
    def is_glob(self) -> bool:
        return any(ch in self.key for ch in "*?[")


def _price_file() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_FILE_NAME
    return path if path.is_file() else None


@cache
def _bundled_map() -> _BundledMap:
    path = _price_file()
    if path is None:
        return _BundledMap(entries={}, sha256="", path="")
    raw = path.read_bytes()
    data = json.loads(raw)
    entries = {
        key: value
        for key, value in data.items()
        if isinstance(value, dict) and key != "sample_spec"
    }
    return _BundledMap(entries=entries, sha256=hashlib.sha256(raw).hexdigest(), path=str(path))


def _litellm_version() -> str | None:
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return None


def _bundled_price(key: str, entry: Mapping[str, Any]) -> ModelPrice | None:
    inp = entry.get("input_cost_per_token")
    out = entry.get("output_cost_per_token")
    if not isinstance(inp, int | float) and not isinstance(out, int | float):
        return None
    return ModelPrice(
        input_per_token=float(inp) if isinstance(inp, int | float) else 0.0,
        output_per_token=float(out) if isinstance(out, int | float) else 0.0,
        source=f"litellm:{key}",
    )


def _names(model: str) -> tuple[str, ...]:
    """The full name, then the name without its provider prefix (when there is one)."""
    if "/" in model:
        return (model, model.split("/", 1)[1])
    return (model,)


@dataclass(slots=True)
class PriceBook:
    """Resolves LiteLLM model names to prices (see the module docstring for the rules).

    Lookups are memoised, so pricing ten thousand agents costs ten thousand dict hits.
    """

    overrides: tuple[_Override, ...] = ()
    bundled: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    bundled_sha256: str = ""
    _memo: dict[str, ModelPrice | None] = field(default_factory=dict, repr=False)

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of `model`, or None when it is not known."""
        if model in self._memo:
            return self._memo[model]
        price = self._resolve(model, ())
        self._memo[model] = price
        return price

    def _resolve(self, model: str, seen: tuple[str, ...]) -> ModelPrice | None:
        override = self._resolve_override(model)
        if override is None:
            return self._resolve_bundled(model)
        if override.same_as is None:
            return override.price
        if override.same_as in seen or len(seen) > 16:
            return None  # an alias loop prices nothing
        target = self._resolve(override.same_as, (*seen, model))
        if target is None:
            return None
        layer = override.price.source if override.price else override.key
        return ModelPrice(
            input_per_token=target.input_per_token,
            output_per_token=target.output_per_token,
            source=f"{layer} same_as {target.source}",
        )

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """USD for one or more calls of `model`; None when the price is unknown (never 0)."""
        price = self.lookup(model)
        if price is None:
            return None
        return input_tokens * price.input_per_token + output_tokens * price.output_per_token

    @property
    def identity(self) -> dict[str, Any]:
        """Which price data this book uses: for plans and run logs to be reproducible."""
        return {
            "litellm_version": _litellm_version(),
            "price_map_sha256": self.bundled_sha256 or None,
            "overrides": len(self.overrides),
        }

    def _resolve_override(self, model: str) -> _Override | None:
        names = _names(model)
        for override in self.overrides:
            if override.is_glob:
                if any(fnmatch.fnmatchcase(name, override.key) for name in names):
                    return override
            elif override.key in names:
                return override
        return None

    def _resolve_bundled(self, model: str) -> ModelPrice | None:
        for name in _names(model):
            entry = self.bundled.get(name)
            if entry is not None:
                return _bundled_price(name, entry)
        bare = _names(model)[-1]
        variants = {
            key: price
            for key, entry in self.bundled.items()
            if key.startswith(bare)
            and _DATE_SUFFIX.match(key[len(bare) :])
            and (price := _bundled_price(key, entry)) is not None
        }
        distinct = {(p.input_per_token, p.output_per_token) for p in variants.values()}
        if len(distinct) != 1:
            return None
        return variants[min(variants)]


def _ordered(overrides: list[_Override]) -> list[_Override]:
    # Exact keys first, then globs from the most specific (longest) to the least.
    return sorted(overrides, key=lambda o: (o.is_glob, -len(o.key) if o.is_glob else 0))


def _read_pricing_file(path: Path) -> list[Price]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read pricing file {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise UsageError(
            f'{path}: expected {{"model": {{"input": usd, "output": usd}}}} per 1M tokens'
        )
    prices: list[Price] = []
    for model, value in data.items():
        if isinstance(value, dict) and set(value) == {"same_as"}:
            target = value["same_as"]
            if not isinstance(target, str) or not target:
                raise UsageError(f'{path}: "{model}".same_as must be a model name')
            prices.append(Price(model=model, input=0.0, output=0.0, same_as=target))
            continue
        ok = isinstance(value, dict) and all(
            isinstance(value.get(k), int | float) and not isinstance(value.get(k), bool)
            for k in ("input", "output")
        )
        if not ok or set(value) - {"input", "output"}:
            raise UsageError(
                f'{path}: "{model}" must be {{"input": number, "output": number}} '
                '(USD per 1M tokens) or {"same_as": "a priced model"}'
            )
        prices.append(
            Price(model=model, input=float(value["input"]), output=float(value["output"]))
        )
    return prices


def load_price_book(overrides: Sequence[Price] = (), pricing_file: Path | None = None) -> PriceBook:
    """A price book over the bundled LiteLLM map, the workflow's `pricing:` and a pricing file.

    `overrides` are the workflow's `pricing:` entries; `pricing_file` is a JSON object
    `{"model or glob": {"input": usd, "output": usd}}`, USD per 1M tokens, and wins over them.
    Raises `UsageError` when the file cannot be read or has the wrong shape.
    """
    layers: list[_Override] = []
    if pricing_file is not None:
        layers += _ordered(
            [_override(p, f"pricing-file:{p.model}") for p in _read_pricing_file(pricing_file)]
        )
    layers += _ordered([_override(p, f"workflow:{p.model}") for p in overrides])
    bundled = _bundled_map()
    return PriceBook(
        overrides=tuple(layers), bundled=bundled.entries, bundled_sha256=bundled.sha256
    )


def _override(price: Price, source: str) -> _Override:
    # An alias keeps a price record only to say which layer declared it.
    return _Override(price.model, _per_token(price, source), price.same_as)


def _per_token(price: Price, source: str) -> ModelPrice:
    return ModelPrice(
        input_per_token=price.input / PER_MILLION,
        output_per_token=price.output / PER_MILLION,
        source=source,
    )


def require_prices(workflow: Workflow, book: PriceBook) -> None:
    """Raise `UsageError` (exit 2) naming the first agent of `workflow` without a price:
    a budget over unknown prices can be neither kept (`run`) nor checked (`plan`)."""
    for agent in workflow.agents:
        if book.lookup(agent.model) is None:
            raise UsageError(
                f"{workflow.path}: model '{agent.model}' (agent '{agent.id}') has no known "
                "price, so --budget-usd can be neither checked nor kept; add it under pricing: "
                f'in the file ({{"{agent.model}": {{input: <USD per 1M>, output: <USD per 1M>}}}}'
                f', or {{"{agent.model}": {{same_as: <a priced model>}}}} for a gateway alias) '
                "or give --pricing FILE"
            )

"""`--mock` answers: deterministic, schema-satisfying, tool-calling, with realistic usage.

`MockLLMClient` wraps a real client (normally `LiteLLMClient`) and gives every request a
dict-form `mock_response`, so the call still goes through LiteLLM (its parameter checks,
its response objects) but never touches the network and needs no key.

The answer depends only on the model name and the prompt text, so a mock run is
reproducible. `sample_json` (a small JSON Schema instance generator) and `mock_prose`
are shared with the test suite's fake OpenAI-compatible server.

    client = MockLLMClient(LiteLLMClient(), latency_s=0.2)
    response = await client.complete(request)

This module must not import litellm: `agentflow run --mock` pays for it once, through
the wrapped client, and nothing else does.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import math
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Final

from agentflow.errors import MockError
from agentflow.llm.mock_regex import Unsupported, compile_pattern
from agentflow.llm.types import LLMClient, LLMRequest, LLMResponse, Message, ToolSpec
from agentflow.model.types import freeze
from agentflow.schema.instance import instance_errors

__all__ = [
    "MockLLMClient",
    "build_mock_response",
    "count_text_tokens",
    "mock_prose",
    "sample_json",
    "seed_for",
]

# Past this depth of nested schemas only what is required is generated, which keeps
# recursive `$ref` schemas finite.
_MAX_DEPTH = 8
# Whole values tried before --mock says the schema cannot be met.
_ATTEMPTS: Final = 8
# Repetitions past each open quantifier's minimum, per try: short strings for a maxLength,
# long ones for a minLength.
_PATTERN_EXTRAS: Final = (3, 0, 1, 2, 3, 5, 0, 1, 8, 2, 13, 21)
_MISSING: Final = object()

_FIRST_NAMES = ("Avery", "Jordan", "Priya", "Mateo", "Hana", "Samuel", "Lena", "Omar", "Grace")
_LAST_NAMES = ("Chen", "Okafor", "Novak", "Garcia", "Lindqvist", "Patel", "Moreau", "Kim")
_CITIES = ("Berlin", "Toronto", "Lisbon", "Singapore", "Austin", "Lyon", "Melbourne")
_COUNTRIES = ("Germany", "Canada", "Portugal", "Singapore", "United States", "France")
_DEPARTMENTS = ("Finance", "Engineering", "People Operations", "Procurement", "Compliance")
_TITLES = ("Backend Engineer", "Financial Analyst", "HR Business Partner", "Buyer", "Auditor")
_STATUSES = ("approved", "pending", "in_review", "completed")
_SKILLS = ("Python", "SQL", "negotiation", "forecasting", "Kubernetes", "reporting", "GAAP")
_WORDS = ("ledger", "invoice", "onboarding", "inventory", "policy", "review", "quarter")

_TASKS = (
    "Set up laptop and accounts",
    "Review the quarterly close checklist",
    "Confirm the vendor's bank details",
    "Walk through the security policy",
    "Schedule a check-in with the manager",
    "Reconcile open purchase orders",
    "Update the stock count for aisle 4",
)
_POINTS = (
    "Strong track record on similar work",
    "Documentation is incomplete",
    "Amounts match the purchase order",
    "Approval is older than 12 months",
    "Lead time exceeds the safety stock window",
    "Segregation of duties is in place",
    "Needs confirmation from the budget owner",
)
_TIMEZONES = ("Europe/Berlin", "America/New_York", "Europe/London", "Asia/Singapore")
_PERSON_FIELDS = ("manager", "buddy", "owner", "interviewer", "approver", "reviewer", "contact")
_TIME_FIELDS = ("start", "end", "time", "when", "slot", "deadline")
_TASK_FIELDS = ("task", "step", "action", "goal", "item", "todo", "milestone")
_POINT_FIELDS = (
    "strength",
    "concern",
    "risk",
    "finding",
    "issue",
    "gap",
    "control",
    "point",
    "flag",
)
_SENTENCE_FIELDS = (
    "summary",
    "description",
    "reason",
    "note",
    "comment",
    "conclusion",
    "rationale",
    "recommendation",
    "explanation",
    "justification",
    "message",
    "body",
    "text",
    "plan",
)

_CLOSING_SENTENCES = (
    "The details provided are consistent, and no blocking issues were found.",
    "The figures were cross-checked against the information in the request.",
    "Items that still need a decision are marked as pending for follow-up.",
    "The main risk is incomplete source data, which should be confirmed with the owner.",
    "Next step: share this summary with the responsible team for sign-off.",
    "Overall the request can proceed as described, with the caveats noted above.",
)


# --------------------------------------------------------------------------- seeds, text


def seed_for(*parts: str) -> int:
    """A stable 64-bit seed from text (Python's `hash()` changes between processes)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _approx_tokens(text: str) -> int:
    # About four characters per token for English text with OpenAI-style tokenizers.
    return (len(text) + 3) // 4


def _load_counter() -> Callable[[str, str], int] | None:
    # The planner's tokenizer-backed counter, when that module exists.
    try:
        module = importlib.import_module("agentflow.plan.tokens")
    except ImportError:
        return None
    counter: Callable[[str, str], int] | None = getattr(module, "count_tokens", None)
    return counter


_counter: Callable[[str, str], int] | None = None
_counter_loaded = False


def count_text_tokens(model: str, text: str) -> int:
    """Tokens in `text` for `model`: the planner's counter when present, else chars / 4."""
    global _counter, _counter_loaded
    if not _counter_loaded:
        _counter = _load_counter()
        _counter_loaded = True
    if not text:
        return 0
    if _counter is not None:
        return _counter(model, text)
    return _approx_tokens(text)


def _topic(text: str, words: int = 8) -> str:
    cleaned = " ".join(part for part in text.replace("[[", " [[").split() if "[[" not in part)
    head = cleaned.split()[:words]
    topic = " ".join(head).strip(" .,:;")
    if len(cleaned.split()) > words:
        topic += "…"
    return topic or "the request"


def mock_prose(prompt: str, rng: random.Random, *, quotes: Sequence[str] = ()) -> str:
    """A few plausible sentences about `prompt` (quoting `quotes`, e.g. tool results)."""
    topic = _topic(prompt)
    sentences = [f'Here is a short response to "{topic}".']
    count = rng.randint(2, 9)
    sentences.append(
        f"I reviewed {count} relevant points and summarised the ones that matter most below."
    )
    for quote in quotes:
        snippet = " ".join(quote.split())
        if len(snippet) > 160:
            snippet = snippet[:157] + "..."
        sentences.append(f"The lookup returned: {snippet}")
    picks = rng.sample(range(len(_CLOSING_SENTENCES)), 2)
    sentences.extend(_CLOSING_SENTENCES[i] for i in sorted(picks))
    return " ".join(sentences)


# --------------------------------------------------------------------------- JSON Schema


def sample_json(
    schema: Mapping[str, Any] | bool, seed: int | random.Random, *, name: str = ""
) -> Any:
    """A plain JSON value that satisfies `schema`, the same for the same seed.

    A value the schema offers comes first: `const`, then one of `examples`, `enum` and
    `default` that the schema accepts. Otherwise one is made: objects (required and some
    optional properties, additionalProperties, min/maxProperties), arrays
    (minItems/maxItems/uniqueItems), numbers and integers within minimum/maximum
    (exclusive too) and multipleOf, booleans, null, strings that match `pattern`
    (`agentflow.llm.mock_regex`) within minLength/maxLength, or in the formats date,
    date-time, time, email, uri, uuid, ipv4, hostname; type lists, anyOf/oneOf (a branch
    that fits), allOf (merged) and local `$ref`s (`#/$defs/...`, `#/definitions/...`).
    Strings and numbers look like their property name (`email`, `start_date`, `amount`...).

    Every value is checked against the schema before it is returned; a schema that cannot
    be met raises `MockError` naming the schema path, never an invalid value.
    """
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    root = schema if isinstance(schema, Mapping) else {}
    sampler = _Sampler(root, rng)
    problem = ""
    for _ in range(_ATTEMPTS):
        value = sampler.value(schema, name, 0, "")
        problems = _problems(schema, value)
        if not problems:
            return value
        problem = problems[0]
    raise MockError(
        f"--mock could not make a value that satisfies the schema ({problem}); "
        "add `examples:` to the schema that it cannot meet"
    )


def _problems(schema: Mapping[str, Any] | bool, value: Any) -> list[str]:
    if schema is True or not isinstance(schema, Mapping):
        return [] if schema is not False else ["the schema is false"]
    try:
        return instance_errors(freeze(schema), value, limit=1)
    except Exception as exc:  # a reference jsonschema cannot follow: say so, never guess
        return [f"the schema cannot be checked: {exc}"]


def _where(path: str) -> str:
    return f"at schema path {path or '/'}"


class _Sampler:
    __slots__ = ("rng", "root")

    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def value(self, schema: Mapping[str, Any] | bool, name: str, depth: int, path: str) -> Any:
        if schema is False:
            raise MockError(f"--mock cannot make a value {_where(path)}: the schema is `false`")
        if schema is True or not isinstance(schema, Mapping):
            return self.text(name, {}, path)
        schema = self.resolve(schema)
        if "const" in schema:
            return _plain(schema["const"])
        for candidate in self.offered(schema):
            if self.fits(schema, candidate):
                return candidate
        if "enum" in schema:
            raise MockError(
                f"--mock cannot make a value {_where(path)}: no value of its `enum` "
                "satisfies the rest of the schema"
            )
        for key in ("oneOf", "anyOf"):
            if schema.get(key):
                return self.branch(schema, key, name, depth, path)
        kind = _kind(schema)
        if kind == "object":
            return self.obj(schema, depth, path)
        if kind == "array":
            return self.array(schema, name, depth, path)
        if kind == "integer":
            return self.integer(schema, name)
        if kind == "number":
            return self.number(schema, name)
        if kind == "boolean":
            return self.rng.random() < 0.7
        if kind == "null":
            return None
        return self.text(name, schema, path)

    def offered(self, schema: Mapping[str, Any]) -> list[Any]:
        """Values the schema itself gives (`examples`, `enum`, `default`), in seeded order."""
        out: list[Any] = []
        for key in ("examples", "enum"):
            values = schema.get(key)
            if isinstance(values, Sequence) and not isinstance(values, str) and values:
                shuffled = [_plain(v) for v in values]
                self.rng.shuffle(shuffled)
                out.extend(shuffled)
        if "default" in schema:
            out.append(_plain(schema["default"]))
        return out

    def fits(self, schema: Mapping[str, Any], value: Any) -> bool:
        """Whether `value` satisfies `schema` (a part of the root: its `$defs` come along)."""
        node = dict(schema)
        for defs in ("$defs", "definitions"):
            if defs in self.root and defs not in node:
                node[defs] = self.root[defs]
        if isinstance(value, str) and not _format_ok(node.get("format"), value):
            return False
        try:
            return not instance_errors(freeze(node), value, limit=1)
        except Exception:  # a reference this part cannot follow alone: the final check decides
            return True

    def branch(self, schema: Mapping[str, Any], key: str, name: str, depth: int, path: str) -> Any:
        """A value for `anyOf`/`oneOf`: the first branch (in seeded order) whose value fits."""
        branches = list(schema[key])
        rest = {k: v for k, v in schema.items() if k != key}
        order = list(range(len(branches)))
        self.rng.shuffle(order)
        fallback: Any = _MISSING
        for index in order:
            option = branches[index]
            if option is False:
                continue
            merged = _merge(rest, self.resolve(option)) if isinstance(option, Mapping) else rest
            try:
                candidate = self.value(merged, name, depth, f"{path}/{key}/{index}")
            except MockError:
                continue
            if self.fits(schema, candidate):
                return candidate
            if fallback is _MISSING:
                fallback = candidate
        if fallback is _MISSING:
            raise MockError(f"--mock cannot make a value {_where(path)}: no `{key}` branch fits")
        return fallback  # the final check names what is wrong with it

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 20:
            target: Any = self.root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                if part:
                    target = target[part.replace("~1", "/").replace("~0", "~")]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = _merge(rest, target) if rest else target
            seen += 1
        if isinstance(schema, Mapping) and schema.get("allOf"):
            merged: Mapping[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = _merge(merged, self.resolve(part))
            return merged
        return schema

    def obj(self, schema: Mapping[str, Any], depth: int, path: str) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        low = schema.get("minProperties", 0)
        high = schema.get("maxProperties")
        out: dict[str, Any] = {}
        for key, sub in properties.items():
            if key in required or (depth < _MAX_DEPTH and self.rng.random() < 0.75):
                out[key] = self.value(sub, key, depth + 1, f"{path}/properties/{key}")
        extra = schema.get("additionalProperties", True)
        for key in sorted(required - set(out)):
            out[key] = self.value(
                extra if isinstance(extra, Mapping | bool) else {}, key, depth + 1, path
            )
        for key, sub in properties.items():  # minProperties: the optional ones first
            if isinstance(low, int) and len(out) < low and key not in out:
                out[key] = self.value(sub, key, depth + 1, f"{path}/properties/{key}")
        count = 0
        while isinstance(low, int) and len(out) < low and extra is not False and count < low:
            key = f"extra_{count}"
            count += 1
            if key not in out:
                sub = extra if isinstance(extra, Mapping) else {}
                out[key] = self.value(sub, key, depth + 1, f"{path}/additionalProperties")
        if isinstance(high, int):
            for key in [k for k in out if k not in required][::-1]:
                if len(out) <= high:
                    break
                del out[key]
        return out

    def array(self, schema: Mapping[str, Any], name: str, depth: int, path: str) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, 3)))
        wanted = low if depth >= _MAX_DEPTH else max(low, min(high, self.rng.randint(1, 3)))
        items = schema.get("items", {})
        singular = name[:-1] if name.endswith("s") else name
        where = f"{path}/items"
        out: list[Any] = []
        if not schema.get("uniqueItems"):
            return [self.value(items, singular, depth + 1, where) for _ in range(wanted)]
        seen: set[str] = set()
        for _ in range(wanted * 8 + 8):
            if len(out) >= wanted:
                break
            item = self.value(items, singular, depth + 1, where)
            key = json.dumps(item, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(item)
        return out

    def integer(self, schema: Mapping[str, Any], name: str) -> int:
        default_low, default_high = _number_range(name)
        low = _bound(schema, "minimum", "exclusiveMinimum", integer=True, upper=False)
        high = _bound(schema, "maximum", "exclusiveMaximum", integer=True, upper=True)
        low, high = _clip(low, high, math.ceil(default_low), math.floor(default_high))
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return step * (self.rng.randint(first, last) if first <= last else first)
        return self.rng.randint(int(low), int(high)) if low <= high else int(low)

    def number(self, schema: Mapping[str, Any], name: str) -> float | int:
        step = schema.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool):
            return self.integer(schema, name)
        default_low, default_high = _number_range(name)
        low = _bound(schema, "minimum", "exclusiveMinimum", integer=False, upper=False)
        high = _bound(schema, "maximum", "exclusiveMaximum", integer=False, upper=True)
        low, high = _clip(low, high, default_low, default_high)
        if isinstance(step, float) and step > 0:
            return self.multiple(schema, step, low, high)
        if low >= high:
            return low
        value = round(self.rng.uniform(low, high), 2)
        if not _within(value, schema):
            value = (low + high) / 2
        return value

    def multiple(self, schema: Mapping[str, Any], step: float, low: float, high: float) -> float:
        """A multiple of a fractional `multipleOf` (0.01 for money) that jsonschema accepts."""
        first, last = math.ceil(low / step), math.floor(high / step)
        if first > last:
            return low  # nothing fits: the final check says so
        picks = [self.rng.randint(first, last) for _ in range(16)]
        picks += list(range(first, min(last, first + 200) + 1))
        for k in picks:
            value = round(k * step, 12)
            if _within(value, schema) and _multiple_ok(value, step):
                return value
        return round(first * step, 12)

    def text(self, name: str, schema: Mapping[str, Any], path: str) -> str:
        pattern = schema.get("pattern")
        candidates: list[str] = []
        beyond = ""
        if isinstance(pattern, str):
            try:
                compiled = compile_pattern(pattern)
            except Unsupported as exc:
                beyond = f"; the pattern is beyond the mock's generator ({exc})"
            else:
                for extra in _PATTERN_EXTRAS:
                    candidates.append(compiled.sample(self.rng, extra=extra))
        named = self.formatted(schema.get("format")) or self.named(name.lower())
        candidates.append(_sized(named, schema))
        for candidate in candidates:
            if _string_ok(candidate, schema):
                return candidate
        if isinstance(pattern, str):
            raise MockError(
                f"--mock cannot make a string that matches pattern {pattern!r} "
                f"{_where(path)}{beyond}; add `examples:` with a matching value to that schema"
            )
        return candidates[-1]

    def formatted(self, fmt: Any) -> str | None:
        rng = self.rng
        if fmt == "date":
            return self.day().isoformat()
        if fmt == "date-time":
            return f"{self.day().isoformat()}T{rng.randint(8, 17):02d}:{rng.choice((0, 15, 30, 45)):02d}:00Z"
        if fmt == "time":
            return f"{rng.randint(8, 17):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
        if fmt in ("email", "idn-email"):
            return self.email()
        if fmt in ("uri", "url", "iri", "uri-reference"):
            return f"https://example.com/{rng.choice(_WORDS)}/{rng.randint(100, 999)}"
        if fmt == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if fmt == "ipv4":
            return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if fmt in ("hostname", "idn-hostname"):
            return f"{rng.choice(_WORDS)}.example.com"
        return None

    def day(self) -> date:
        return date(2024, 1, 1) + timedelta(days=self.rng.randint(0, 700))

    def email(self) -> str:
        first, last = self.rng.choice(_FIRST_NAMES), self.rng.choice(_LAST_NAMES)
        return f"{first}.{last}@example.com".lower()

    def named(self, name: str) -> str:
        rng = self.rng
        if "email" in name:
            return self.email()
        if name.endswith("id") and len(name) > 2:
            return f"{(name[:3].strip('_') or 'id').upper()}-{rng.randint(1000, 9999)}"
        if "first_name" in name or name == "first":
            return rng.choice(_FIRST_NAMES)
        if "last_name" in name or name in ("last", "surname"):
            return rng.choice(_LAST_NAMES)
        if "name" in name:
            return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        if any(k in name for k in _PERSON_FIELDS):
            return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        if "date" in name or "due" in name or name.endswith(("_at", "_on", "day")):
            return self.day().isoformat()
        if "timezone" in name or name in ("tz", "zone"):
            return rng.choice(_TIMEZONES)
        if any(k in name for k in _TIME_FIELDS):
            return self.formatted("date-time") or ""
        if "phone" in name:
            return f"+1-555-01{rng.randint(0, 99):02d}"
        if "city" in name:
            return rng.choice(_CITIES)
        if "country" in name:
            return rng.choice(_COUNTRIES)
        if "currency" in name:
            return rng.choice(("USD", "EUR", "GBP"))
        if "department" in name or "team" in name:
            return rng.choice(_DEPARTMENTS)
        if name in ("title", "role", "position", "job", "job_title"):
            return rng.choice(_TITLES)
        if "status" in name or "decision" in name:
            return rng.choice(_STATUSES)
        if "skill" in name:
            return rng.choice(_SKILLS)
        if "url" in name or "link" in name or "website" in name:
            return self.formatted("uri") or ""
        if "address" in name:
            return f"{rng.randint(1, 99)} Market Street, {rng.choice(_CITIES)}"
        if "language" in name:
            return rng.choice(("English", "German", "French", "Spanish"))
        if any(k in name for k in _SENTENCE_FIELDS):
            return rng.choice(_CLOSING_SENTENCES)
        if any(k in name for k in _TASK_FIELDS):
            return rng.choice(_TASKS)
        if any(k in name for k in _POINT_FIELDS):
            return rng.choice(_POINTS)
        if name.endswith(("ref", "refs", "reference", "number", "code")):
            return f"{rng.choice(_WORDS)[:3].upper()}-{rng.randint(1000, 9999)}"
        return rng.choice(_POINTS)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _sized(value: str, schema: Mapping[str, Any]) -> str:
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        value += "x" * (low - len(value))
    if isinstance(high, int) and len(value) > high:
        value = value[:high]
    return value


def _string_ok(value: str, schema: Mapping[str, Any]) -> bool:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        return False
    if isinstance(high, int) and len(value) > high:
        return False
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                return False
        except re.error:
            return False
    return _format_ok(schema.get("format"), value)


def _format_ok(fmt: Any, value: str) -> bool:
    """The formats the mock makes, checked the way a format checker would."""
    try:
        if fmt == "date":
            date.fromisoformat(value)
            return len(value) == 10
        if fmt == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return "T" in value.upper()
        if fmt == "uuid":
            return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
    if fmt in ("email", "idn-email"):
        return "@" in value
    if fmt in ("uri", "url", "iri"):
        return re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value) is not None
    return True


def _multiple_ok(value: float, step: float) -> bool:
    # As jsonschema decides it for a fractional step.
    quotient = value / step
    try:
        return int(quotient) == quotient
    except (OverflowError, ValueError):
        return False


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if key == "properties" and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        elif key == "required" and key in out:
            out[key] = [*out[key], *(r for r in value if r not in out[key])]
        else:
            out.setdefault(key, value)
    return out


def _kind(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, Sequence) and declared:
        concrete = [t for t in declared if t != "null"]
        return str(concrete[0] if concrete else declared[0])
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        return "object"
    if any(k in schema for k in ("minProperties", "maxProperties")):
        return "object"
    if any(k in schema for k in ("items", "minItems", "maxItems", "uniqueItems")):
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    if "multipleOf" in schema:
        return "number"
    return "string"


def _number_range(name: str) -> tuple[float, float]:
    name = name.lower()
    if any(k in name for k in ("amount", "price", "total", "cost", "salary", "balance", "usd")):
        return 50.0, 25000.0
    if "year" in name:
        return 1.0, 15.0
    if "age" in name:
        return 22.0, 60.0
    if any(k in name for k in ("score", "rating")):
        return 1.0, 10.0
    if any(k in name for k in ("percent", "pct", "rate")):
        return 0.0, 100.0
    if any(k in name for k in ("confidence", "probability")):
        return 0.0, 1.0
    return 1.0, 100.0


def _bound(
    schema: Mapping[str, Any], inclusive: str, exclusive: str, *, integer: bool, upper: bool
) -> float | None:
    out: float | None = None
    value = schema.get(inclusive)
    if isinstance(value, int | float) and not isinstance(value, bool):
        out = (math.floor(value) if upper else math.ceil(value)) if integer else float(value)
    value = schema.get(exclusive)
    if isinstance(value, int | float) and not isinstance(value, bool):
        strict: float
        if integer:
            strict = math.ceil(value) - 1 if upper else math.floor(value) + 1
        else:
            # Leave a margin that survives rounding to 2 decimals.
            margin = max(abs(value) * 1e-9, 0.01)
            strict = value - margin if upper else value + margin
        out = strict if out is None else (min(out, strict) if upper else max(out, strict))
    return out


def _clip(
    low: float | None, high: float | None, default_low: float, default_high: float
) -> tuple[float, float]:
    if low is None and high is None:
        return default_low, default_high
    if low is None:
        assert high is not None
        return min(default_low, high - (default_high - default_low)), high
    if high is None:
        return low, max(default_high, low + (default_high - default_low))
    return low, high


def _within(value: float, schema: Mapping[str, Any]) -> bool:
    def bound(key: str) -> float | None:
        found = schema.get(key)
        if isinstance(found, bool) or not isinstance(found, int | float):
            return None
        return float(found)

    low, high = bound("minimum"), bound("maximum")
    low_x, high_x = bound("exclusiveMinimum"), bound("exclusiveMaximum")
    return (
        (low is None or value >= low)
        and (high is None or value <= high)
        and (low_x is None or value > low_x)
        and (high_x is None or value < high_x)
    )


# --------------------------------------------------------------------------- responses


def _last_user_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user" and message.content:
            return message.content
    return ""


def _prompt_text(request: LLMRequest) -> str:
    return "\n".join(m.content or "" for m in request.messages)


def _usage_prompt(request: LLMRequest) -> int:
    parts = [m.content or "" for m in request.messages]
    parts.extend(c.arguments for m in request.messages for c in m.tool_calls)
    parts.extend(json.dumps(_plain(t.parameters)) + t.description for t in request.tools)
    # Chat formats add a few tokens of framing per message.
    framing = 3 * len(request.messages) + 3
    return count_text_tokens(request.model, "\n".join(parts)) + framing


def _tool_arguments(tool: ToolSpec, rng: random.Random) -> str:
    try:
        arguments = sample_json(tool.parameters, rng)
    except MockError as exc:
        raise MockError(f"tool '{tool.name}' parameters: {exc}") from None
    return json.dumps(arguments, ensure_ascii=False)


def _answer(schema: Mapping[str, Any], rng: random.Random) -> str:
    try:
        answer = sample_json(schema, rng)
    except MockError as exc:
        raise MockError(f"output schema: {exc}") from None
    return json.dumps(answer, ensure_ascii=False)


def build_mock_response(request: LLMRequest) -> dict[str, Any]:
    """LiteLLM's dict-form `mock_response` for `request` (an OpenAI chat completion).

    Tools offered and no tool result yet: one call of each tool, arguments from its
    parameters schema. Otherwise the final answer: JSON satisfying `response_schema`
    (any JSON object in `json_mode`) or a few sentences of prose quoting tool results.
    Raises `MockError` (naming the tool or the output schema, and the schema path) when a
    schema cannot be met.
    """
    prompt = _prompt_text(request)
    rng = random.Random(seed_for(request.model, prompt))
    tool_results = [m.content or "" for m in request.messages if m.role == "tool"]
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if request.tools and not tool_results:
        calls: list[dict[str, Any]] = [
            {
                "id": f"call_{rng.getrandbits(64):016x}",
                "type": "function",
                "function": {"name": tool.name, "arguments": _tool_arguments(tool, rng)},
            }
            for tool in request.tools
        ]
        message["tool_calls"] = calls
        finish_reason = "tool_calls"
        completion_text = "".join(c["function"]["name"] + c["function"]["arguments"] for c in calls)
    else:
        if request.response_schema is not None:
            content = _answer(request.response_schema, rng)
        elif request.json_mode:
            user = _last_user_text(request.messages)
            content = json.dumps({"answer": mock_prose(user, rng, quotes=tool_results)})
        else:
            content = mock_prose(_last_user_text(request.messages), rng, quotes=tool_results)
        message["content"] = content
        finish_reason = "stop"
        completion_text = content
    prompt_tokens = _usage_prompt(request)
    completion_tokens = max(1, count_text_tokens(request.model, completion_text))
    return {
        "id": f"chatcmpl-mock-{rng.getrandbits(48):012x}",
        "object": "chat.completion",
        "model": request.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class MockLLMClient:
    """An `LLMClient` whose answers are made up, deterministically, by `build_mock_response`.

    `inner` does the call (a `LiteLLMClient`: the request goes through LiteLLM's mock
    path). `latency_s` is awaited with `sleep` before each answer, to make mock runs
    look like real ones in the progress display and in timing tests.
    """

    def __init__(
        self,
        inner: LLMClient,
        *,
        latency_s: float = 0.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._inner = inner
        self._latency_s = latency_s
        self._sleep = sleep

    async def complete(self, request: LLMRequest) -> LLMResponse:
        mocked = replace(request, mock_response=build_mock_response(request))
        response = await self._inner.complete(mocked)
        if self._latency_s > 0:
            await self._sleep(self._latency_s)
        return response

    async def warm_up(self, targets: Iterable[tuple[str, str | None]]) -> None:
        warm = getattr(self._inner, "warm_up", None)
        if warm is not None:
            await warm(targets)

    async def aclose(self) -> None:
        await self._inner.aclose()

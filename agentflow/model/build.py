"""Build the frozen model from a schema-valid workflow document.

Pure: the caller has already validated the data (JSON Schema and semantic checks) and
passes the dependency lists found in templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from agentflow.model.durations import parse_duration
from agentflow.model.types import (
    DEFAULT_FALLBACK_ON,
    Agent,
    Budget,
    CachePolicy,
    Concurrency,
    Deadline,
    InputSpec,
    Limit,
    McpServer,
    OutputSpec,
    Price,
    RetryPolicy,
    SourceMap,
    Tool,
    Workflow,
    freeze,
)

DEFAULT_MAX_TOKENS = 1024
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_TOOL_ROUNDS = 8
DEFAULT_TOOL_TIMEOUT_S = 30.0
DEFAULT_START_TIMEOUT_S = 60.0

_INHERITED = (
    "model",
    "system",
    "temperature",
    "max_tokens",
    "timeout",
    "retry",
    "api_base",
    "api_key_env",
    "max_tool_rounds",
    "cache",
    "fallbacks",
    "fallback_on",
)


_DEFAULT_RETRY = RetryPolicy()  # frozen: every agent without `retry:` shares it
_TEXT_OUTPUT = OutputSpec()  # likewise for every agent without `output:`


def _retry(raw: Mapping[str, Any] | None) -> RetryPolicy:
    if not raw:
        return _DEFAULT_RETRY
    base = _DEFAULT_RETRY
    return RetryPolicy(
        max_attempts=int(raw.get("max_attempts", base.max_attempts)),
        backoff=raw.get("backoff", base.backoff),
        initial_delay=parse_duration(raw.get("initial_delay", base.initial_delay)),
        multiplier=float(raw.get("multiplier", base.multiplier)),
        max_delay=parse_duration(raw.get("max_delay", base.max_delay)),
        jitter=bool(raw.get("jitter", base.jitter)),
    )


def _budget(raw: Mapping[str, Any] | None) -> Budget | None:
    if raw is None:
        return None
    return Budget(
        max_usd=float(raw["max_usd"]),
        warn_at=float(raw.get("warn_at", 0.8)),
        on_exceeded=raw.get("on_exceeded", "fail"),
        per=raw.get("per"),
        key=raw.get("key"),
    )


def _cache(raw: bool | Mapping[str, Any] | None) -> CachePolicy | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        return CachePolicy()
    ttl = raw.get("ttl")
    return CachePolicy(ttl_s=None if ttl is None else parse_duration(ttl))


def _merged(defaults: Mapping[str, Any], agent: Mapping[str, Any]) -> dict[str, Any]:
    merged = {key: defaults[key] for key in _INHERITED if key in defaults}
    merged.update(agent)
    if "retry" in defaults and "retry" in agent:
        # An agent's retry overrides field by field, not wholesale.
        merged["retry"] = {**defaults["retry"], **agent["retry"]}
    return merged


def _output(raw: Mapping[str, Any] | None) -> OutputSpec:
    if not raw:
        return _TEXT_OUTPUT
    schema = raw.get("schema")
    return OutputSpec(
        format=raw.get("format", "json" if schema is not None else "text"),
        schema=freeze(schema) if schema is not None else None,
        repair=int(raw.get("repair", 1)),
    )


def _agent(agent_id: str, raw: Mapping[str, Any], depends_on: tuple[str, ...]) -> Agent:
    fallbacks = raw.get("fallbacks")
    return Agent(
        id=agent_id,
        model=str(raw["model"]),
        prompt=str(raw["prompt"]),
        system=raw.get("system"),
        description=raw.get("description"),
        output=_output(raw.get("output")),
        needs=tuple(raw.get("needs", ())),
        depends_on=depends_on,
        for_each=raw.get("for_each"),
        max_parallel=raw.get("max_parallel"),
        when=raw.get("when"),
        critical=bool(raw.get("critical", True)),
        budget=_budget(raw.get("budget")),
        tools=tuple(raw.get("tools", ())),
        max_tool_rounds=int(raw.get("max_tool_rounds", DEFAULT_MAX_TOOL_ROUNDS)),
        timeout=parse_duration(raw["timeout"]) if "timeout" in raw else DEFAULT_TIMEOUT_S,
        retry=_retry(raw.get("retry")),
        temperature=raw.get("temperature"),
        max_tokens=int(raw.get("max_tokens", DEFAULT_MAX_TOKENS)),
        api_base=raw.get("api_base"),
        api_key_env=raw.get("api_key_env"),
        cache=_cache(raw.get("cache")),
        fallbacks=tuple(str(m) for m in fallbacks) if fallbacks else (),
        fallback_on=tuple(raw.get("fallback_on", DEFAULT_FALLBACK_ON)),
    )


def _inputs(raw: Mapping[str, Any]) -> tuple[InputSpec, ...]:
    specs = []
    for name, spec in raw.items():
        schema = {k: v for k, v in spec.items() if k not in ("default", "description")}
        specs.append(
            InputSpec(
                name=name,
                schema=freeze(schema),
                description=spec.get("description"),
                has_default="default" in spec,
                default=freeze(spec.get("default")),
            )
        )
    return tuple(specs)


def _tools(raw: Mapping[str, Any], base_dir: Path) -> tuple[Tool, ...]:
    return tuple(
        Tool(
            name=name,
            description=spec.get("description", ""),
            parameters=freeze(spec.get("parameters") or {"type": "object", "properties": {}}),
            python=spec.get("python"),
            command=tuple(spec["command"]) if "command" in spec else None,
            timeout=parse_duration(spec.get("timeout", DEFAULT_TOOL_TIMEOUT_S)),
            base_dir=base_dir,
            side_effects=bool(spec.get("side_effects", False)),
        )
        for name, spec in raw.items()
    )


def _mcp_servers(raw: Mapping[str, Any], base_dir: Path) -> tuple[McpServer, ...]:
    servers = []
    for name, spec in raw.items():
        command = spec["command"]
        argv = (command,) if isinstance(command, str) else tuple(command)
        servers.append(
            McpServer(
                name=name,
                command=(*argv, *spec.get("args", ())),
                env=tuple((str(k), str(v)) for k, v in (spec.get("env") or {}).items()),
                cwd=base_dir / spec["cwd"] if "cwd" in spec else base_dir,
                timeout=parse_duration(spec.get("timeout", DEFAULT_TOOL_TIMEOUT_S)),
                start_timeout=parse_duration(spec.get("start_timeout", DEFAULT_START_TIMEOUT_S)),
                base_dir=base_dir,
            )
        )
    return tuple(servers)


def _deadline(raw: Any, on_deadline: Any) -> Deadline | None:
    """A validated `deadline:` (a duration, or an ISO 8601 time with its offset)."""
    if raw is None:
        return None
    if isinstance(raw, str) and "T" in raw:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        return Deadline(at=moment.timestamp(), on_deadline=on_deadline)
    return Deadline(after_s=parse_duration(raw), on_deadline=on_deadline)


def build_workflow(
    data: Mapping[str, Any],
    path: Path,
    source: SourceMap,
    depends_on: Mapping[str, tuple[str, ...]],
) -> Workflow:
    """The frozen `Workflow` for validated data; defaults are merged into every agent."""
    defaults = data.get("defaults") or {}
    agents = tuple(
        _agent(agent_id, _merged(defaults, raw), depends_on.get(agent_id, ()))
        for agent_id, raw in data["agents"].items()
    )
    return Workflow(
        name=data["name"],
        path=path,
        version=int(data.get("version", 1)),
        description=data.get("description"),
        agents=agents,
        inputs=_inputs(data.get("inputs") or {}),
        limits=tuple(
            Limit(key=key, **{k: int(v) for k, v in spec.items()})
            for key, spec in (data.get("limits") or {}).items()
        ),
        budget=_budget(data.get("budget")),
        pricing=tuple(price_entry(model, p) for model, p in (data.get("pricing") or {}).items()),
        tools=_tools(data.get("tools") or {}, path.parent),
        mcp_servers=_mcp_servers(data.get("mcp_servers") or {}, path.parent),
        outputs=tuple((name, str(t)) for name, t in (data.get("outputs") or {}).items()),
        concurrency=(
            Concurrency(
                group=str(data["concurrency"]["group"]),
                on_conflict=data["concurrency"].get("on_conflict", "skip"),
            )
            if data.get("concurrency")
            else None
        ),
        source=source,
        priority=int(data.get("priority", 0)),
        deadline=_deadline(data.get("deadline"), data.get("on_deadline", "warn")),
    )


def price_entry(model: str, value: Mapping[str, Any]) -> Price:
    """One validated `pricing:` entry: a price per 1M tokens, or `{same_as: other}`."""
    if "same_as" in value:
        return Price(model=model, input=0.0, output=0.0, same_as=str(value["same_as"]))
    return Price(model=model, input=float(value["input"]), output=float(value["output"]))

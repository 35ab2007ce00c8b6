"""Frozen, slotted records for a workflow. Built by `agentflow.model.build`.

JSON payloads that are data rather than configuration (an input's JSON Schema, a tool's
parameters, an output schema, default input values) are kept as `Json`: deeply frozen
(`FrozenDict` for objects, tuples for arrays); `thaw()` gives a plain copy for libraries
that want dicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Backoff = Literal["exponential", "linear", "constant"]
OutputFormat = Literal["text", "json"]
Period = Literal["day", "week", "month"]
OnExceeded = Literal["fail", "skip_noncritical"]
OnDeadline = Literal["warn", "cancel"]

# Errors that move a call to the next fallback model: the retryable ones once the retries
# are spent, the others (the request itself does not fit the model) at once.
DEFAULT_FALLBACK_ON = (
    "rate_limit",
    "server_error",
    "timeout",
    "connection",
    "context_window",
    "content_policy",
)


class FrozenDict(Mapping[str, Any]):
    """An immutable, hashable mapping used for JSON objects inside the model."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted((k, _hashable(v)) for k, v in self._data.items())))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return FrozenDict(value)
    return value


def freeze(value: Any) -> Any:
    """Return a deeply immutable copy of a JSON value."""
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Return a plain, mutable JSON copy (dicts and lists) of a frozen value."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Position:
    """Where something is in a workflow file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


PathPart = str | int
KeyPath = tuple[PathPart, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: KeyPath) -> str:
    """A key path for people: `agents.screen.retry.backoff`, `needs[0]`, `limits["openai/*"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Positions of the keys and values of a workflow file, by key path.

    `value(path)` gives where the value at `path` starts, `key(path)` where its key is
    written; both fall back to the nearest enclosing node, then to the top of the file.
    The empty path is the document itself.
    """

    file: str
    values: Mapping[KeyPath, Position] = field(default_factory=dict)
    keys: Mapping[KeyPath, Position] = field(default_factory=dict)

    def value(self, path: KeyPath) -> Position:
        probe = tuple(path)
        while probe:
            pos = self.values.get(probe)
            if pos is not None:
                return pos
            probe = probe[:-1]
        return self.values.get((), Position(self.file, 1, 1))

    def key(self, path: KeyPath) -> Position:
        return self.keys.get(tuple(path)) or self.value(path)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an agent's failed calls are retried (only retryable error classes)."""

    max_attempts: int = 4
    backoff: Backoff = "exponential"
    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: bool = True


@dataclass(frozen=True, slots=True)
class Budget:
    """A spending cap in USD, at run, workflow or agent level.

    A workflow's budget with `per` set is standing: it holds across runs for each UTC
    calendar period, kept under `key` (the workflow's name when None).
    """

    max_usd: float
    warn_at: float = 0.8
    on_exceeded: OnExceeded = "fail"
    per: Period | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Concurrency:
    """Only one run of `group` (a template over the inputs) at a time."""

    group: str
    on_conflict: Literal["skip", "queue", "fail"] = "skip"


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a workflow should be done: `after_s` seconds from the run's start, or at the
    epoch time `at` (exactly one is set)."""

    after_s: float | None = None
    at: float | None = None
    on_deadline: OnDeadline = "warn"

    def due(self, run_started: float, wall_at_start: float) -> float:
        """The deadline on the run's monotonic time line (the run started at `run_started`
        monotonic, `wall_at_start` epoch)."""
        if self.after_s is not None:
            return run_started + self.after_s
        assert self.at is not None
        return run_started + (self.at - wall_at_start)


@dataclass(frozen=True, slots=True)
class Limit:
    """Rate limits for the models matching `key` (a LiteLLM model name, glob or "*")."""

    key: str
    rpm: int | None = None
    rph: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tph: int | None = None
    tpd: int | None = None
    max_concurrent: int | None = None
    burst: int | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """A price override, USD per one million tokens; or, with `same_as`, an alias priced
    as another model (a gateway's `openai/team-gpt` as `openai/gpt-4o-mini`)."""

    model: str
    input: float
    output: float
    same_as: str | None = None


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A declared workflow input: its JSON Schema and optional default."""

    name: str
    schema: FrozenDict
    description: str | None = None
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """What an agent must answer: free text, or JSON optionally checked against a schema."""

    format: OutputFormat = "text"
    schema: FrozenDict | None = None
    # How many times an answer that does not parse or match is re-asked (JSON only).
    repair: int = 1


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """`cache:` of an agent: reuse identical earlier answers; `ttl_s` None keeps them until cleared."""

    ttl_s: float | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """A function tool the model may call, implemented by a Python function, a command, or
    a tool of an MCP server (`mcp_server`, `mcp_tool`: built at run time from the server's
    listing; `name` is then the function name the model sees, `server-tool`)."""

    name: str
    description: str
    parameters: FrozenDict
    python: str | None = None
    command: tuple[str, ...] | None = None
    timeout: float = 30.0
    base_dir: Path = Path(".")
    side_effects: bool = False
    mcp_server: str | None = None
    mcp_tool: str | None = None


@dataclass(frozen=True, slots=True)
class McpServer:
    """An MCP tool server (stdio) of the workflow: `command` + `args` started in `cwd`.

    `env` holds the values as written in the file: `${NAME}` references are resolved from
    agentflow's environment only when the server starts, so no secret is kept in the model.
    """

    name: str
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: Path = Path(".")
    timeout: float = 30.0
    start_timeout: float = 60.0
    base_dir: Path = Path(".")


def mcp_reference(name: str) -> tuple[str, str] | None:
    """`("hr", "lookup")` for an agent's `tools:` entry `hr.lookup` (`("hr", "*")` for
    `hr.*`); None for a local tool's name."""
    server, dot, tool = name.partition(".")
    return (server, tool) if dot else None


@dataclass(frozen=True, slots=True)
class Agent:
    """One agent, with the workflow defaults already merged in.

    `depends_on` is `needs` plus every agent its templates reference, in file order.
    """

    id: str
    model: str
    prompt: str
    system: str | None = None
    description: str | None = None
    output: OutputSpec = OutputSpec()
    needs: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    for_each: str | None = None
    max_parallel: int | None = None
    when: str | None = None
    critical: bool = True
    budget: Budget | None = None
    tools: tuple[str, ...] = ()
    max_tool_rounds: int = 8
    timeout: float = 60.0
    retry: RetryPolicy = RetryPolicy()
    temperature: float | None = None
    max_tokens: int = 1024
    api_base: str | None = None
    api_key_env: str | None = None
    cache: CachePolicy | None = None
    # Models tried in order when a call of `model` fails with an error of `fallback_on`.
    fallbacks: tuple[str, ...] = ()
    fallback_on: tuple[str, ...] = DEFAULT_FALLBACK_ON


@dataclass(frozen=True, slots=True)
class Workflow:
    """A whole validated workflow file."""

    name: str
    path: Path
    agents: tuple[Agent, ...]
    version: int = 1
    description: str | None = None
    inputs: tuple[InputSpec, ...] = ()
    limits: tuple[Limit, ...] = ()
    budget: Budget | None = None
    pricing: tuple[Price, ...] = ()
    tools: tuple[Tool, ...] = ()
    mcp_servers: tuple[McpServer, ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    concurrency: Concurrency | None = None
    source: SourceMap = SourceMap("<memory>")
    # Which waiting calls go first (higher first) and when the workflow should be done.
    priority: int = 0
    deadline: Deadline | None = None

    def agent(self, agent_id: str) -> Agent:
        for agent in self.agents:
            if agent.id == agent_id:
                return agent
        raise KeyError(agent_id)

    def tool(self, name: str) -> Tool:
        for tool in self.tools:
            if tool.name == name:
                return tool
        raise KeyError(name)

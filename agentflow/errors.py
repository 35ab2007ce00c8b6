"""The project's one exception tree.

Every error agentflow raises on purpose is one of these. The CLI's error boundary
(`agentflow.cli.boundary`) turns them into one message and an exit code; third-party
exceptions are translated into them at exactly one place each (litellm in
`agentflow.llm.litellm_client`, YAML in `agentflow.loading`).

    AgentflowError                      anything agentflow reports on purpose           exit 1
    ├── UsageError                      bad command-line arguments or input values      exit 2
    ├── WorkflowInvalid                 a workflow file has errors (carries diagnostics) exit 2
    ├── RunFailed                       a run ended with a critical failure              exit 1
    │   └── GroupHeld                   another run holds the concurrency group (fail)   exit 1
    ├── BudgetExceeded                  a budget refused a reservation                  exit 3
    ├── StateError                      the state database cannot be used               exit 2
    │   └── SharedStateUnreachable      the Redis named by --state redis:// cannot be reached
    ├── AgentError                      one agent failed (recorded, never escapes a run)
    │   ├── TemplateRenderError         a template could not be rendered at run time
    │   ├── OutputInvalid               the model's answer did not parse / match the schema
    │   ├── SchemaInvalid               a JSON Schema of the workflow is not valid (validate says so first)
    │   ├── ToolLoopExceeded            the model kept calling tools past max_tool_rounds
    │   └── ToolServerError             an MCP server did not start, or lacks a listed tool
    ├── ToolError                       a tool handler failed (its text goes back to the model)
    └── LLMError                        a model call failed; `retryable` says what to do
        ├── RateLimited                 429 / rate limit (retryable; may carry retry_after)
        ├── QuotaExceeded               insufficient quota / billing (not retryable)
        ├── LLMTimeout                  the call timed out (retryable)
        ├── LLMConnectionError          the connection failed or was lost (retryable)
        │   └── ConnectFailed           the request never left: no connection (retryable)
        ├── ServerError                 5xx, overloaded, service unavailable (retryable)
        ├── AuthenticationFailed        401/403, missing key (not retryable)
        ├── BadRequest                  400, invalid request (not retryable)
        ├── ContextWindowExceeded       prompt too long for the model (not retryable)
        ├── ContentPolicyViolation      refused by the provider's filter (not retryable)
        ├── ModelNotFound               404, unknown model (not retryable)
        └── MockError                   --mock cannot make a value its schema accepts
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from agentflow.llm.hints import RateLimitHints

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a workflow file, located by file:line:column and a key path."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Severity = "error"
    code: str = "invalid"

    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def render(self) -> str:
        where = f" ({self.path})" if self.path else ""
        kind = "" if self.severity == "error" else "warning: "
        return f"{self.location()}: {kind}{self.message}{where}"


class AgentflowError(Exception):
    """Raised when agentflow reports a problem on purpose; exit code 1."""

    exit_code: ClassVar[int] = 1


class UsageError(AgentflowError):
    """Raised when command-line arguments or input values are wrong; exit code 2."""

    exit_code = 2


class WorkflowInvalid(AgentflowError):
    """Raised when a workflow file has errors; carries every diagnostic found; exit code 2."""

    exit_code = 2

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0].render() if diagnostics else "invalid workflow"
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(first + more)


class RunFailed(AgentflowError):
    """Raised when a run cannot start or ends with a critical failure; exit code 1."""


class GroupHeld(RunFailed):
    """Raised when another run holds the workflow's concurrency group and `on_conflict` is
    `fail`; the message names that run; exit code 1."""


class RunSkipped(AgentflowError):
    """Raised when another run holds the workflow's concurrency group and `on_conflict` is
    `skip`: nothing ran, and that is not a failure (exit code 0). The message names the run
    that holds the group."""

    exit_code = 0


class BudgetExceeded(AgentflowError):
    """Raised when a reservation does not fit a budget; exit code 3."""

    exit_code = 3

    def __init__(self, message: str, *, scope: str = "run") -> None:
        super().__init__(message)
        self.scope = scope


class StateError(AgentflowError):
    """Raised when the state database (journal, cache) is damaged, locked or unwritable; exit 2.

    A run never goes on without the journal it was asked to keep: that could pay twice.
    """

    exit_code = 2


class SharedStateUnreachable(StateError):
    """Raised when the Redis named by `--state redis://...` cannot be reached; exit code 2.

    Budgets kept there fail closed on it (no paid call without the shared ledger); limits
    fall back to local limiting with one warning.
    """


class AgentError(AgentflowError):
    """Raised when one agent fails for a reason of its own (not the model call)."""

    error_class: ClassVar[str] = "agent_error"


class TemplateRenderError(AgentError):
    """Raised when a template cannot be rendered with the values of this run."""

    error_class = "template_error"


class OutputInvalid(AgentError):
    """Raised when a model's answer is not valid JSON or does not match the output schema."""

    error_class = "output_invalid"


class SchemaInvalid(AgentError):
    """Raised when a JSON Schema of the workflow (an output schema, a tool's parameters, an
    input) is not a valid JSON Schema at run time; `validate` reports it with its line."""

    error_class = "schema_invalid"


class ToolLoopExceeded(AgentError):
    """Raised when a model still calls tools after max_tool_rounds rounds."""

    error_class = "tool_rounds_exceeded"


class ToolServerError(AgentError):
    """Raised when an MCP tool server cannot start (or does not list a tool an agent names):
    the agent that needed it fails; the message names the server and its stderr tail."""

    error_class = "tool_server"


class ToolError(AgentflowError):
    """Raised when a tool handler fails; the message is returned to the model as the result."""


class LLMError(AgentflowError):
    """Raised when a model call fails; `retryable` tells the engine whether to try again."""

    retryable: ClassVar[bool] = False
    error_class: ClassVar[str] = "llm_error"
    # True when the request may have reached the provider (which may bill it) but no
    # answer came back: the engine keeps the call's worst-case cost as unconfirmed spend.
    unanswered: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        rate_limits: RateLimitHints | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        # what the failed call's headers said about the provider's limits (adaptive limits)
        self.rate_limits = rate_limits


class RateLimited(LLMError):
    """Raised on HTTP 429 / provider rate limits."""

    retryable = True
    error_class = "rate_limit"


class QuotaExceeded(LLMError):
    """Raised when the account has no quota or credit left."""

    error_class = "insufficient_quota"


class LLMTimeout(LLMError):
    """Raised when a model call exceeds its timeout."""

    retryable = True
    error_class = "timeout"
    unanswered = True


class LLMConnectionError(LLMError):
    """Raised when the connection failed or was lost, possibly after the request was sent."""

    retryable = True
    error_class = "connection"
    unanswered = True


class ConnectFailed(LLMConnectionError):
    """Raised when no connection could be made, so the request was never sent."""

    unanswered = False


class ServerError(LLMError):
    """Raised on 5xx, overloaded or unavailable responses."""

    retryable = True
    error_class = "server_error"


class AuthenticationFailed(LLMError):
    """Raised on 401/403 or a missing API key."""

    error_class = "authentication"


class BadRequest(LLMError):
    """Raised when the provider rejects the request as malformed."""

    error_class = "bad_request"


class ContextWindowExceeded(LLMError):
    """Raised when the prompt does not fit the model's context window."""

    error_class = "context_window"


class ContentPolicyViolation(LLMError):
    """Raised when the provider's content filter refuses the request."""

    error_class = "content_policy"


class ModelNotFound(LLMError):
    """Raised when the model or endpoint does not exist."""

    error_class = "not_found"


class MockError(LLMError):
    """Raised when `--mock` cannot make a value that satisfies a schema; names its path."""

    error_class = "mock_error"

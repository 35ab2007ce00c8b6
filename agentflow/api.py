"""The Python API: what `agentflow validate`, `plan` and `run` do, as functions.

The CLI commands call these and only render what they return, so a script gets the same
checks, numbers and run log as the command line. Keyword arguments mirror the CLI flags
(`--budget-usd` is `budget_usd=`); errors are the classes of `agentflow.errors` (a bad file in
`plan_file` or `run_file` raises `WorkflowInvalid` with every diagnostic, a bad value
`UsageError`), never a traceback from a third-party library.

    >>> import agentflow
    >>> agentflow.validate_file("workflows/hr_onboarding.yaml").ok
    True

Only `run_file` and `arun_file` import LiteLLM; validating and planning stay light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentflow.defaults import (
    DEFAULT_LOG_DIR,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_WORKFLOWS,
    DEFAULT_STATE,
)
from agentflow.errors import Diagnostic, UsageError

if TYPE_CHECKING:
    from agentflow.events.types import Sink
    from agentflow.model.types import Workflow
    from agentflow.plan.estimate import Plan
    from agentflow.run.results import InstanceResult, RunResult, Usage, WorkflowStatus
    from agentflow.run.shared import StandingLeft
    from agentflow.sinks.summary import CostSummary
    from agentflow.state.forecast import CacheForecast

PathLike = str | os.PathLike[str]
Inputs = Mapping[str, Any] | Sequence[Mapping[str, Any]]
"""Input values: one mapping for one workflow instance, or a sequence of them for a batch."""


RUN_FORMAT = "agentflow.run/v1"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """What `validate_file` found in one file: its diagnostics, and the workflow when valid.

    `ok` is what `agentflow validate` exits 0 on: no errors (and, with `strict`, no warnings).
    """

    path: Path
    workflow: Workflow | None
    diagnostics: tuple[Diagnostic, ...]
    strict: bool = False

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors and not (self.strict and self.warnings)


def validate_file(
    path: PathLike, *, strict: bool = False, text: str | bytes | None = None
) -> ValidationResult:
    """Check one workflow file completely (schema, references, cycles, templates, tools,
    prices); never raises for a bad file. With `text`, that is the content and `path` only
    names it. No user code runs: Python tool modules are parsed, not imported."""
    from agentflow.core import analyze

    analysis = analyze(Path(path), text)
    return ValidationResult(analysis.path, analysis.workflow, analysis.diagnostics, strict)


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What `plan_file` expects a run to cost and take, and what the response cache would
    answer (`cache`, None when no agent caches or the inputs are not all known)."""

    plan: Plan
    cache: CacheForecast | None = None
    standing: StandingLeft | None = None  # what a standing budget has left this period

    @property
    def over_budget(self) -> bool:
        """The expected cost is over a budget: `agentflow plan` exits 3, a run would stop."""
        return self.plan.budget.verdict == "over"

    @property
    def exit_code(self) -> int:
        return 3 if self.over_budget else 0

    def to_json(self) -> dict[str, Any]:
        """The `agentflow.plan/v1` document that `plan --format json` prints."""
        from agentflow.plan.render import plan_to_json

        document = plan_to_json(self.plan)
        if self.cache is not None:
            document["cache"] = self.cache.as_json()
        if self.standing is not None:
            document["standing_budget"] = self.standing.as_json()
        return document

    def notes(self) -> list[str]:
        """The lines `agentflow plan` prints under the table: cache, standing budget."""
        found = (self.cache, self.standing)
        return [note.line() for note in found if note is not None]


def _python_inputs(workflow: Workflow, inputs: Inputs) -> list[tuple[str, dict[str, Any]]]:
    from agentflow.loading.inputs import complete_inputs

    if isinstance(inputs, Mapping):
        return [("inputs", complete_inputs(workflow, inputs, "inputs"))]
    if isinstance(inputs, str | bytes) or not all(isinstance(i, Mapping) for i in inputs):
        raise UsageError("inputs: expected a mapping of input values, or a list of them")
    if not inputs:
        raise UsageError("inputs: the list of instances is empty")
    return [
        (f"inputs[{n}]", complete_inputs(workflow, i, f"inputs[{n}]")) for n, i in enumerate(inputs)
    ]


def _check_one_source(
    inputs: Inputs | None, inputs_file: Path | None, pairs: Sequence[str]
) -> None:
    if inputs is not None and (inputs_file is not None or pairs):
        raise UsageError("give inputs=, or inputs_file= and input_pairs=, not both")


def plan_workflow(
    workflow: Workflow,
    *,
    inputs: Inputs | None = None,
    inputs_file: PathLike | None = None,
    input_pairs: Sequence[str] = (),
    budget_usd: float | None = None,
    pricing: PathLike | None = None,
    state: PathLike | None = None,
    cache: bool | None = None,
) -> PlanResult:
    """`plan_file` for a workflow already loaded (see there)."""
    from agentflow.loading.inputs import parse_input_rows
    from agentflow.plan.estimate import make_batch_plan, make_plan
    from agentflow.plan.pricing import load_price_book, require_prices
    from agentflow.values import check_usd

    check_usd("--budget-usd", budget_usd)
    file = Path(inputs_file) if inputs_file is not None else None
    _check_one_source(inputs, file, input_pairs)
    book = load_price_book(workflow.pricing, Path(pricing) if pricing is not None else None)
    if budget_usd is not None:
        require_prices(workflow, book)  # as run does: a budget over unknown prices cannot hold
    given = inputs is not None or file is not None or bool(input_pairs)
    if inputs is not None:
        rows = _python_inputs(workflow, inputs)
    elif given:
        rows = parse_input_rows(workflow, input_pairs, file)
    else:
        rows = [("defaults", {})]  # planned with declared defaults; the rest counts as unknown
    batch = (inputs is not None and not isinstance(inputs, Mapping)) or (
        file is not None and file.suffix == ".jsonl"
    )
    if len(rows) > 1 or batch:
        plan = make_batch_plan(workflow, rows, book, budget_usd=budget_usd)
    else:
        plan = make_plan(workflow, rows[0][1] or None, book, budget_usd=budget_usd)
    instances = [values for _origin, values in rows] if given else _defaults_only(workflow)
    from agentflow.state.locator import split_state

    state_file, shared = split_state(None if state is None else str(state))
    forecast = _cache_forecast(workflow, instances, state_file, cache)
    return PlanResult(plan, forecast, _standing(workflow, state_file, shared))


def _standing(
    workflow: Workflow, state_file: Path | None, shared: str | None
) -> StandingLeft | None:
    """What the workflow's standing budget has left today (None when it has none)."""
    if workflow.budget is None or workflow.budget.per is None:
        return None
    import datetime as dt

    from agentflow.run.shared import standing_left

    path = state_file if state_file is not None else DEFAULT_STATE
    return standing_left(workflow, path, shared, dt.datetime.now(dt.UTC))


def _defaults_only(workflow: Workflow) -> list[dict[str, Any]] | None:
    from agentflow.loading.inputs import parse_inputs

    try:
        return parse_inputs(workflow, (), None)
    except UsageError:  # an input without a default: requests cannot be known
        return None


def _cache_forecast(
    workflow: Workflow,
    instances: list[dict[str, Any]] | None,
    state: PathLike | None,
    cache: bool | None,
) -> CacheForecast | None:
    """What the response cache would answer, for agents that cache (None when none does,
    or when the inputs are not all given: requests could not be known)."""
    import time

    from agentflow.state.journal import CacheChoice

    choice = CacheChoice(cache)
    if instances is None or not any(choice.policy(a) is not None for a in workflow.agents):
        return None
    from agentflow.state.forecast import forecast_cache

    path = Path(state) if state is not None else DEFAULT_STATE
    return forecast_cache(workflow, instances, path, choice=choice, now=time.time())


def plan_file(
    path: PathLike,
    *,
    inputs: Inputs | None = None,
    inputs_file: PathLike | None = None,
    input_pairs: Sequence[str] = (),
    budget_usd: float | None = None,
    pricing: PathLike | None = None,
    state: PathLike | None = None,
    cache: bool | None = None,
) -> PlanResult:
    """Price and time a run of the workflow in `path` before a cent is spent.

    `inputs` are Python values (a mapping, or a list of mappings for a batch), checked
    against the workflow's inputs; or, as on the command line, `inputs_file` (`--inputs`,
    `.json` or `.jsonl`) and `input_pairs` (`--input NAME=VALUE` strings). Without any, the
    workflow is planned with its declared defaults. `pricing` is a JSON price file
    (`--pricing`), `state` and `cache` say which response cache to look in (`--state`,
    `--cache/--no-cache`). Raises `WorkflowInvalid` for a bad file, `UsageError` for bad values.
    """
    from agentflow.core import load_workflow

    return plan_workflow(
        load_workflow(Path(path)),
        inputs=inputs,
        inputs_file=inputs_file,
        input_pairs=input_pairs,
        budget_usd=budget_usd,
        pricing=pricing,
        state=state,
        cache=cache,
    )


@dataclass(frozen=True, slots=True)
class RunReport:
    """How a run ended: the engine's `result`, the cost `summary` its events added up to,
    and where its log is. `status` and `exit_code` are what `agentflow run` reports."""

    result: RunResult
    summary: CostSummary = field(repr=False)
    log_path: Path
    rerun_command: str = ""
    continue_command: str | None = None
    output_error: str | None = None  # why `output=` could not be written, when it could not

    @property
    def run_id(self) -> str:
        return self.result.run_id

    @property
    def status(self) -> WorkflowStatus:
        """ok, failed, partial, budget or cancelled."""
        return self.result.status

    @property
    def exit_code(self) -> int:
        """0 ok, 1 failed, 3 budget, 4 partial, 130/143 interrupted (1 when `output=` failed)."""
        code = self.result.exit_code
        return (code or 1) if self.output_error else code

    @property
    def instances(self) -> tuple[InstanceResult, ...]:
        """One result per workflow instance: its status, outputs and agents."""
        return self.result.instances

    @property
    def outputs(self) -> Mapping[str, Any]:
        """The outputs of a run of one workflow instance (`instances` holds a batch's)."""
        if len(self.result.instances) != 1:
            raise ValueError(
                f"this run has {len(self.result.instances)} instances; read .instances"
            )
        return self.result.instances[0].outputs

    @property
    def usage(self) -> Usage:
        """Calls, tokens and cost of the whole run (unconfirmed calls kept apart)."""
        return self.result.usage

    def results(self) -> list[dict[str, Any]]:
        """Each instance's workflow, index, status and outputs (what `-o FILE` writes)."""
        return [
            {
                "workflow": r.workflow,
                "instance": r.instance,
                "status": r.status,
                "outputs": dict(r.outputs),
            }
            for r in self.result.instances
        ]

    def to_json(self) -> dict[str, Any]:
        """The `agentflow.run/v1` document that `run --format json` prints."""
        from agentflow.sinks.summary import summary_json

        return {
            "format": RUN_FORMAT,
            "run_id": self.result.run_id,
            "status": self.result.status,
            "exit_code": self.result.exit_code,
            "log_path": str(self.log_path),
            "results": self.results(),
            **{k: v for k, v in summary_json(self.summary).items() if k != "version"},
            "rerun_command": self.rerun_command,
            "continue_command": self.continue_command,
        }


def _files(path: PathLike | Sequence[PathLike]) -> tuple[Path, ...]:
    if isinstance(path, str | os.PathLike):
        return (Path(path),)
    return tuple(Path(p) for p in path)


async def arun_file(
    path: PathLike | Sequence[PathLike],
    *,
    inputs: Inputs | None = None,
    inputs_file: PathLike | None = None,
    input_pairs: Sequence[str] = (),
    mock: bool = False,
    mock_latency: float = 0.0,
    budget_usd: float | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    max_workflows: int = DEFAULT_MAX_WORKFLOWS,
    log_dir: PathLike = DEFAULT_LOG_DIR,
    run_id: str | None = None,
    output: PathLike | None = None,
    state: PathLike | None = None,
    cache: bool | None = None,
    log_prompts: bool = False,
    max_answer_bytes: int | None = None,
    secret_env: Sequence[str] = (),
    sinks: Sequence[Sink] = (),
) -> RunReport:
    """Run the workflow in `path` (or several files) on the running event loop.

    Arguments are those of `run_file`. While it runs, SIGINT and SIGTERM stop it the way
    they stop `agentflow run` (calls in flight are recorded, the log is closed; the report
    says `cancelled`), when the loop runs in the main thread.
    """
    from agentflow.cli.boundary import use_secret_env
    from agentflow.run.calls import DEFAULT_MAX_ANSWER_BYTES
    from agentflow.run.launch import RunOptions, execute_run

    file = Path(inputs_file) if inputs_file is not None else None
    _check_one_source(inputs, file, input_pairs)
    values: tuple[Mapping[str, Any], ...] | None = None
    if inputs is not None:
        values = (inputs,) if isinstance(inputs, Mapping) else tuple(inputs)
    if secret_env:  # hidden from here on, in this process (as --secret-env for its run)
        use_secret_env(list(secret_env))
    options = RunOptions(
        files=_files(path),
        input_pairs=tuple(input_pairs),
        inputs_file=file,
        input_values=values,
        mock=mock,
        mock_latency=mock_latency,
        budget_usd=budget_usd,
        max_concurrency=max_concurrency,
        max_workflows=max_workflows,
        log_dir=Path(log_dir),
        run_id=run_id,
        output=Path(output) if output is not None else None,
        state=Path(state) if state is not None else None,
        cache=cache,
        log_prompts=log_prompts,
        max_answer_bytes=max_answer_bytes or DEFAULT_MAX_ANSWER_BYTES,
        secret_env=tuple(secret_env),
        argv=("agentflow.run_file", *map(str, _files(path))),
    )
    return await execute_run(options, extra_sinks=sinks)


def run_file(
    path: PathLike | Sequence[PathLike],
    *,
    inputs: Inputs | None = None,
    inputs_file: PathLike | None = None,
    input_pairs: Sequence[str] = (),
    mock: bool = False,
    mock_latency: float = 0.0,
    budget_usd: float | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    max_workflows: int = DEFAULT_MAX_WORKFLOWS,
    log_dir: PathLike = DEFAULT_LOG_DIR,
    run_id: str | None = None,
    output: PathLike | None = None,
    state: PathLike | None = None,
    cache: bool | None = None,
    log_prompts: bool = False,
    max_answer_bytes: int | None = None,
    secret_env: Sequence[str] = (),
    sinks: Sequence[Sink] = (),
) -> RunReport:
    """Run the workflow in `path` (or several files) and wait for the end; as `agentflow run`.

    `inputs` are Python values (a mapping, or a list of mappings for a batch); or, as on the
    command line, `inputs_file` and `input_pairs`. `mock=True` answers offline through
    LiteLLM's mock path; `budget_usd`, `max_concurrency`, `max_workflows`, `log_dir`,
    `run_id`, `output`, `state`, `cache`, `log_prompts`, `max_answer_bytes` and `secret_env`
    are the flags of the same names. `sinks` get every run event too (objects with
    `handle(event)` and `close()`, see `agentflow.events.types.Sink`).

    A run that starts returns its report whatever its status (read `.status`,
    `.exit_code`); one that cannot start raises `WorkflowInvalid`, `UsageError` or
    `BudgetExceeded` before any call or log. Not for a thread whose event loop is running:
    await `arun_file` there.
    """
    import asyncio

    return asyncio.run(
        arun_file(
            path,
            inputs=inputs,
            inputs_file=inputs_file,
            input_pairs=input_pairs,
            mock=mock,
            mock_latency=mock_latency,
            budget_usd=budget_usd,
            max_concurrency=max_concurrency,
            max_workflows=max_workflows,
            log_dir=log_dir,
            run_id=run_id,
            output=output,
            state=state,
            cache=cache,
            log_prompts=log_prompts,
            max_answer_bytes=max_answer_bytes,
            secret_env=secret_env,
            sinks=sinks,
        )
    )

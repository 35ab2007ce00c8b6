"""The run's defaults are the same whichever door a run comes in by."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from agentflow import api
from agentflow.cli import app as cli_app
from agentflow.cli.worker_cmd import WorkerOptions
from agentflow.defaults import (
    DEFAULT_LOG_DIR,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_WORKFLOWS,
    DEFAULT_STATE,
)
from agentflow.run.engine import RunSettings
from agentflow.run.launch import RunOptions, state_path
from agentflow.run.worker import WorkerSettings


def _default(function: Any, name: str) -> Any:
    return inspect.signature(function).parameters[name].default


EXPECTED = {
    "max_concurrency": DEFAULT_MAX_CONCURRENCY,
    "max_workflows": DEFAULT_MAX_WORKFLOWS,
    "log_dir": DEFAULT_LOG_DIR,
}


@pytest.mark.parametrize("function", [cli_app.run, api.run_file, api.arun_file])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_command_and_api_start_from_the_same_defaults(function: Any, name: str) -> None:
    assert _default(function, name) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_run_options_start_from_the_same_defaults(name: str) -> None:
    assert getattr(RunOptions(files=()), name) == EXPECTED[name]


def test_reports_and_workers_read_the_same_log_dir_and_concurrency() -> None:
    assert _default(cli_app.report, "log_dir") == DEFAULT_LOG_DIR
    assert _default(cli_app.worker, "max_concurrency") == DEFAULT_MAX_CONCURRENCY
    for record in (RunSettings, WorkerSettings, WorkerOptions):
        fields = {f.name: f.default for f in dataclasses.fields(record)}
        assert fields["max_concurrency"] == DEFAULT_MAX_CONCURRENCY, record


def test_a_run_with_no_state_option_keeps_its_state_where_the_defaults_say() -> None:
    assert state_path(RunOptions(files=())) == DEFAULT_STATE
    assert cli_app.state_path(DEFAULT_LOG_DIR, None) == DEFAULT_STATE

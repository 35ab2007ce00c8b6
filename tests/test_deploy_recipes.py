"""The deployment recipes in docs/deploy/ are files a user can copy as they are: each one is
checked here with the tool or schema that would reject it, where one is at hand."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.cli.helpers import REPO

DEPLOY = REPO / "docs" / "deploy"
GUIDE = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
YAML_FILES = sorted([*DEPLOY.glob("*.yml"), *DEPLOY.glob("*.yaml")])


def _documents(path: Path) -> list[Any]:
    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text(encoding="utf-8")) if d]


def _vendored_schema(name: str) -> dict[str, Any]:
    """A SchemaStore schema as check-jsonschema (a dev dependency) ships it: no network."""
    try:
        vendor = resources.files("check_jsonschema").joinpath("builtin_schemas", "vendor")
    except ModuleNotFoundError:
        pytest.skip("check-jsonschema is not installed: its vendored SchemaStore schemas are")
    value = json.loads(vendor.joinpath(name).read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def _schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_every_recipe_is_explained_in_deployment_md() -> None:
    files = sorted(p.name for p in DEPLOY.iterdir())
    assert files == [
        "Dockerfile",
        "Dockerfile.dockerignore",
        "agentflow-invoices.service",
        "agentflow-invoices.timer",
        "agentflow.cron",
        "github-actions.yml",
        "gitlab-ci.yml",
        "kubernetes-cronjob.yaml",
        "kubernetes-workers.yaml",
    ]
    for name in files:
        assert f"deploy/{name}" in GUIDE, name


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_every_yaml_recipe_parses(path: Path) -> None:
    assert _documents(path), f"{path.name} holds no document"


def test_the_github_actions_workflow_matches_its_published_schema() -> None:
    (workflow,) = _documents(DEPLOY / "github-actions.yml")
    assert _schema_errors(_vendored_schema("github-workflows.json"), workflow) == []
    steps = workflow["jobs"]["check"]["steps"]
    commands = "\n".join(str(s.get("run", "")) for s in steps)
    assert "agentflow validate --strict --format github workflows/" in commands
    assert "--format markdown" in commands and "gh pr comment" in commands
    assert "pip install agentflow" not in commands  # never by name from the index


def test_the_gitlab_pipeline_matches_its_published_schema() -> None:
    (pipeline,) = _documents(DEPLOY / "gitlab-ci.yml")
    assert _schema_errors(_vendored_schema("gitlab-ci.json"), pipeline) == []
    assert pipeline["nightly-invoices"]["resource_group"]  # one scheduled run at a time


def test_the_kubernetes_cronjob_runs_one_at_a_time_and_keeps_its_state() -> None:
    claim, cron = _documents(DEPLOY / "kubernetes-cronjob.yaml")
    assert (claim["kind"], cron["apiVersion"], cron["kind"]) == (
        "PersistentVolumeClaim",
        "batch/v1",
        "CronJob",
    )
    assert len(cron["spec"]["schedule"].split()) == 5
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["args"][0] == "run"
    log_dir = container["args"][container["args"].index("--log-dir") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert log_dir.startswith(mounts["state"] + "/")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert all("valueFrom" in e for e in container["env"]), "keys come from a Secret"


def test_the_kubernetes_workers_join_the_starters_queue_and_leave_when_idle() -> None:
    from typer.testing import CliRunner

    from agentflow.cli.app import app

    starter, workers = _documents(DEPLOY / "kubernetes-workers.yaml")
    assert starter["kind"] == workers["kind"] == "CronJob"
    assert starter["spec"]["schedule"] == workers["spec"]["schedule"]
    run_pod = starter["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    job = workers["spec"]["jobTemplate"]["spec"]
    (run,) = run_pod["containers"]
    (worker,) = job["template"]["spec"]["containers"]
    assert run["args"][0] == "run" and worker["args"][0] == "worker"
    queue = run["args"][run["args"].index("--queue") + 1]
    assert worker["args"][worker["args"].index("--queue") + 1] == queue == "$(AGENTFLOW_QUEUE)"
    assert "--exit-when-idle" in worker["args"]
    assert job["parallelism"] >= 2
    for container in (run, worker):
        env = {e["name"]: e for e in container["env"]}
        assert "secretKeyRef" in env["AGENTFLOW_QUEUE"]["valueFrom"]  # its password too
    grace = float(worker["args"][worker["args"].index("--grace") + 1])
    assert grace < job["template"]["spec"]["terminationGracePeriodSeconds"]
    # every flag the manifests pass is one the CLI takes
    runner = CliRunner()
    for args in (run["args"], worker["args"]):
        flags = [a for a in args if a.startswith("--")]
        help_text = runner.invoke(app, [args[0], "--help"], env={"COLUMNS": "200"}).output
        assert all(flag in help_text for flag in flags), (args[0], flags)


def test_the_cron_line_holds_a_lock_so_runs_never_overlap() -> None:
    lines = [
        line
        for line in (DEPLOY / "agentflow.cron").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    (entry,) = lines
    fields = entry.split(None, 6)  # /etc/cron.d: five time fields, the user, the command
    minute, hour, _day, _month, weekday, user, command = fields
    assert (minute, hour, weekday, user) == ("0", "6", "1-5", "agentflow")
    words = shlex.split(command)
    flock = words.index("flock")
    assert words[flock + 1] == "-n"
    assert words[flock + 3 : flock + 5] == ["agentflow", "run"]


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    stub = tmp_path / "agentflow"  # verify wants ExecStart= to name an executable
    stub.write_text("#!/bin/sh\n", encoding="utf-8")
    stub.chmod(0o755)
    service = (DEPLOY / "agentflow-invoices.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/agentflow/venv/bin/agentflow run " in service
    (tmp_path / "agentflow-invoices.service").write_text(
        service.replace("/opt/agentflow/venv/bin/agentflow", str(stub)), encoding="utf-8"
    )
    shutil.copy(DEPLOY / "agentflow-invoices.timer", tmp_path)
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            "agentflow-invoices.service",
            "agentflow-invoices.timer",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_the_dockerfile_builds_from_the_repository_and_never_from_the_index() -> None:
    steps = _instructions((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    known = {"FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "ENTRYPOINT", "CMD", "ARG"}
    assert {k for k, _ in steps} <= known
    assert steps[0][0] == "FROM"
    for keyword, rest in steps:
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _dest = rest.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        if keyword == "RUN" and "pip install" in rest:
            assert "--no-index" in rest, "the image installs agentflow from its own wheels only"
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["agentflow"]
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        s.rstrip("/") for k, r in steps if k == "COPY" and "--from" not in r for s in r.split()[:-1]
    }
    assert copied <= kept, "every file the build copies is in its build context"

"""Concurrency groups: one run of a group at a time, as a file lock and as a Redis lease."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from agentflow.errors import GroupHeld
from agentflow.model.types import Agent, Concurrency, Workflow
from agentflow.state.groups import conflict_action, groups_of, hold_groups
from tests.redis_server import RedisServer


def _workflow(group: str, on_conflict: str = "skip") -> Workflow:
    return Workflow(
        path=Path("nightly.yaml"),
        name="nightly",
        agents=(Agent(id="a", model="openai/gpt-4o", prompt="hi"),),
        concurrency=Concurrency(group=group, on_conflict=on_conflict),  # type: ignore[arg-type]
    )


def test_a_group_template_is_rendered_per_instance_and_taken_in_sorted_order() -> None:
    wf = _workflow("nightly-{{ inputs.tenant }}")
    instances = [(wf, {"tenant": "zeta"}), (wf, {"tenant": "acme"}), (wf, {"tenant": "zeta"})]
    assert groups_of(instances) == ("nightly-acme", "nightly-zeta")
    assert groups_of([(Workflow(path=Path("x"), name="x", agents=()), {})]) == ()


def test_the_strictest_on_conflict_of_the_workflows_wins() -> None:
    assert conflict_action([_workflow("g", "skip"), _workflow("g", "queue")]) == "queue"
    assert conflict_action([_workflow("g", "queue"), _workflow("g", "fail")]) == "fail"


@pytest.fixture(params=["file", "redis"])
def shared(request: pytest.FixtureRequest) -> str | None:
    if request.param == "file":
        return None
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


def test_a_second_start_skips_naming_the_run_that_holds_the_group(
    tmp_path: Path, shared: str | None
) -> None:
    options = {"lock_dir": tmp_path / "locks", "shared_url": shared}
    with hold_groups(["nightly-acme"], "skip", run_id="first-run", **options) as first:
        assert first is None
        with hold_groups(["nightly-acme"], "skip", run_id="second-run", **options) as second:
            assert second is not None
            assert second.run_id == "first-run"
            line = second.line()
            assert "'nightly-acme' is held by run first-run" in line
        with (
            pytest.raises(GroupHeld, match="held by run first-run"),
            hold_groups(["nightly-acme"], "fail", run_id="third-run", **options),
        ):
            pass
        # another group is free
        with hold_groups(["nightly-zeta"], "skip", run_id="fourth-run", **options) as other:
            assert other is None
    with hold_groups(["nightly-acme"], "skip", run_id="after", **options) as later:
        assert later is None  # given back when the first run ended


def test_queue_waits_for_the_holder_to_finish(tmp_path: Path, shared: str | None) -> None:
    options = {"lock_dir": tmp_path / "locks", "shared_url": shared}
    order: list[str] = []
    taken = threading.Event()

    def holder() -> None:
        with hold_groups(["g"], "skip", run_id="holder", **options):
            taken.set()
            time.sleep(0.5)
            order.append("holder done")

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(5)
    with hold_groups(["g"], "queue", run_id="waiter", **options) as held_by:
        assert held_by is None
        order.append("waiter in")
    thread.join()
    assert order == ["holder done", "waiter in"]


def test_a_crashed_holder_redis_group_is_free_after_its_lease(redis_server: RedisServer) -> None:
    holder = {"run_id": "crashed", "pid": 1, "host": "h", "since": "2026-12-02T00:00:00Z"}
    value = json.dumps(holder).replace(" ", "")
    redis_server.command("SET", "agentflow:group:g", value, "PX", "400")
    options = {"lock_dir": Path("/nonexistent"), "shared_url": redis_server.url}
    with hold_groups(["g"], "skip", run_id="next", **options) as held_by:
        assert held_by is not None and held_by.run_id == "crashed"
    time.sleep(0.5)
    with hold_groups(["g"], "skip", run_id="next", **options) as held_by:
        assert held_by is None

"""A host with the embedded default: SQLite broker and backend, an in-process worker."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from plugyard.adapters.celery import CeleryService
from plugyard.adapters.celery._store import Update
from plugyard.sdk.tasks import JobStatus

pytestmark = pytest.mark.timeout(60)

ADD = "celery_sample.tasks.add"
COUNTDOWN = "celery_sample.tasks.until_canceled"
SLEEPER = "celery_sample.tasks.sleeper"


def test_round_trip_and_events(embedded: Any) -> None:
    result = CeleryService.of(embedded.host).send(ADD, 2, 3)
    assert result.get(timeout=10) == 5
    topics = [e.topic for e in embedded.events.wait_for(f"task.{ADD}.success", timeout=5)]
    assert topics == [f"task.{ADD}.success"]
    mine = [e for e in embedded.events.matching(f"task.{ADD}.*") if e.data["id"] == result.id]
    assert [e.data["status"] for e in mine] == ["queued", "running", "success"]
    status = CeleryService.of(embedded.host).status(result.id)
    assert status["status"] == "success"
    assert status["name"] == ADD


def test_task_status_command(embedded: Any) -> None:
    reply = embedded.run_command("tasks.send", name=ADD, args=[1, 1])
    CeleryService.of(embedded.host).app.AsyncResult(reply["id"]).get(timeout=10)
    deadline = time.monotonic() + 5
    while embedded.run_command("tasks.status", id=reply["id"])["status"] != "success":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ADD in embedded.run_command("tasks.list")["tasks"]


def test_error_reports_the_traceback(embedded: Any) -> None:
    result = CeleryService.of(embedded.host).send("celery_sample.tasks.fail", "disk full")
    with pytest.raises(ValueError, match="disk full"):
        result.get(timeout=10)
    event = embedded.events.wait_for("task.celery_sample.tasks.fail.error", timeout=5)[-1]
    assert event.data["id"] == result.id
    assert event.data["error"] == "ValueError: disk full"
    assert "Traceback" in event.data["traceback"]
    assert "raise ValueError" in event.data["traceback"]


def test_progress_and_cancel_of_a_running_cancelable_task(embedded: Any) -> None:
    result = CeleryService.of(embedded.host).send(COUNTDOWN, 0.01, 120)  # runs until canceled
    progress = embedded.events.wait_for(f"task.{COUNTDOWN}.progress", timeout=10)[-1]
    assert progress.data["id"] == result.id
    assert progress.data["total"] == 12000
    reply = CeleryService.of(embedded.host).cancel(result.id)
    assert reply["status"] in ("canceling", "canceled")  # canceled: it stopped already
    assert result.get(timeout=10) == "canceled"  # the task saw `canceled` and returned
    canceled = embedded.events.wait_for(f"task.{COUNTDOWN}.canceled", timeout=5)[-1]
    assert canceled.data["id"] == result.id
    assert CeleryService.of(embedded.host).status(result.id)["status"] == "canceled"


def test_a_task_canceled_while_queued_never_runs(embedded: Any) -> None:
    busy = [
        CeleryService.of(embedded.host).send(SLEEPER, 1.0) for _ in range(2)
    ]  # both worker threads
    queued = CeleryService.of(embedded.host).send(ADD, 40, 2)
    reply = CeleryService.of(embedded.host).cancel(queued.id)
    assert reply["status"] == "canceled"
    marker = CeleryService.of(embedded.host).send(ADD, 1, 1)  # queued behind the canceled one
    for item in busy:
        item.get(timeout=10)
    assert marker.get(timeout=10) == 2  # so the worker has taken the canceled one too
    mine = [
        e.data["status"] for e in embedded.events.matching("task.*") if e.data["id"] == queued.id
    ]
    assert "running" not in mine
    assert "success" not in mine
    assert CeleryService.of(embedded.host).status(queued.id)["status"] == "canceled"
    assert queued.state == "REVOKED"


def test_status_and_cancel_right_after_send_see_the_queued_task(embedded: Any) -> None:
    """Updates this process queued are written before it reads the store."""
    already = len(embedded.events.matching(f"task.{ADD}.canceled"))
    result = CeleryService.of(embedded.host).send_with(ADD, [1, 2], queue="nobody")
    assert CeleryService.of(embedded.host).status(result.id)["status"] == "queued"
    reply = CeleryService.of(embedded.host).cancel(result.id)
    assert (reply["status"], reply["name"]) == ("canceled", ADD)
    event = embedded.events.wait_for(f"task.{ADD}.canceled", count=already + 1, timeout=5)[-1]
    assert event.data["id"] == result.id


def test_finished_task_is_left_alone(embedded: Any) -> None:
    result = CeleryService.of(embedded.host).send(ADD, 1, 2)
    result.get(timeout=10)
    embedded.events.wait_for(f"task.{ADD}.success", timeout=5)
    reply = CeleryService.of(embedded.host).cancel(result.id)
    assert reply["status"] == "success"
    assert reply["changed"] is False


def test_unacknowledged_cancellation_is_resolved_and_reported(embedded: Any) -> None:
    task_id = str(uuid.uuid4())
    jobs = CeleryService.of(embedded.host).jobs
    jobs.store.apply([Update(task_id, "ghost.task", JobStatus.RUNNING)])  # a worker that died
    assert CeleryService.of(embedded.host).cancel(task_id)["status"] == "canceling"
    event = embedded.events.wait_for("task.ghost.task.canceled", timeout=10)[-1]
    assert event.data["id"] == task_id
    assert event.data["unacknowledged"] is True
    assert "no worker acknowledged" in event.data["reason"]


def test_time_limit_set_by_the_plugin_applies(embedded: Any) -> None:
    assert CeleryService.of(embedded.host).app.conf.task_time_limit == 300

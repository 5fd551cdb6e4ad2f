"""The job-status table and how the store applies it."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugyard.adapters.celery._store import JobStore, SQLiteJobStore, Update, open_store
from plugyard.sdk.tasks import ACTIVE, TERMINAL, TRANSITIONS, JobStatus, can_transition, next_status


def test_table_covers_every_status_and_terminal_ones_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(JobStatus)
    assert {JobStatus.SUCCESS, JobStatus.ERROR, JobStatus.CANCELED} == TERMINAL
    assert can_transition(None, JobStatus.QUEUED)
    assert can_transition(JobStatus.QUEUED, JobStatus.RUNNING)
    assert not can_transition(JobStatus.CANCELED, JobStatus.SUCCESS)
    assert JobStatus.CANCELING.code == 824


GIRDER_CODES = {
    "INACTIVE": 0,
    "QUEUED": 1,
    "RUNNING": 2,
    "SUCCESS": 3,
    "ERROR": 4,
    "CANCELED": 5,
    "FETCHING_INPUT": 820,
    "CONVERTING_INPUT": 821,
    "CONVERTING_OUTPUT": 822,
    "PUSHING_OUTPUT": 823,
    "CANCELING": 824,
}


def test_names_and_codes_are_girder_workers() -> None:
    assert {s.name: s.code for s in JobStatus} == GIRDER_CODES
    for name, code in GIRDER_CODES.items():
        assert JobStatus.from_code(code) is JobStatus[name]
        assert JobStatus.from_code(str(code)) is JobStatus[name]
        assert JobStatus.from_code(name.lower()) is JobStatus[name]
    with pytest.raises(ValueError, match="825"):
        JobStatus.from_code(825)
    with pytest.raises(ValueError, match="'paused'"):
        JobStatus.from_code("paused")


def test_codes_match_the_installed_girder_worker() -> None:
    utils = pytest.importorskip("girder_worker.utils")
    assert {name: getattr(utils.JobStatus, name) for name in GIRDER_CODES} == GIRDER_CODES


def test_transfer_stages_run_in_girder_workers_order() -> None:
    s = JobStatus
    path = [
        s.QUEUED,
        s.FETCHING_INPUT,
        s.CONVERTING_INPUT,
        s.RUNNING,
        s.CONVERTING_OUTPUT,
        s.PUSHING_OUTPUT,
        s.SUCCESS,
    ]
    current = None
    for status in path:
        assert can_transition(current, status), f"{current} -> {status}"
        current = status
    assert not can_transition(s.CONVERTING_OUTPUT, s.RUNNING)
    assert not can_transition(s.FETCHING_INPUT, s.SUCCESS)
    assert not can_transition(s.RUNNING, s.QUEUED)
    for stage in (s.FETCHING_INPUT, s.CONVERTING_INPUT, s.CONVERTING_OUTPUT, s.PUSHING_OUTPUT):
        assert stage in ACTIVE
        assert can_transition(stage, s.ERROR)
        assert can_transition(stage, s.CANCELING)


def test_canceling_never_sticks() -> None:
    assert TRANSITIONS[JobStatus.CANCELING] == {JobStatus.CANCELED, JobStatus.ERROR}
    assert all(after for status, after in TRANSITIONS.items() if status not in TERMINAL)


def test_impossible_transition_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="plugyard.sdk.tasks"):
        assert next_status(JobStatus.CANCELED, JobStatus.SUCCESS, task_id="t1") is None
    assert "t1" in caplog.text
    assert "success after canceled ignored" in caplog.text


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        yield SQLiteJobStore(tmp_path / "jobs.sqlite")
        return
    from plugyard.sdk.testing import require_service

    require_service("redis")
    prefix = f"plugyard-test-{uuid.uuid4().hex[:8]}:"
    redis_store = open_store(f"redis://127.0.0.1:6379/{1 + os.getpid() % 14}", prefix=prefix)
    yield redis_store
    client = redis_store.client  # type: ignore[attr-defined]
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    redis_store.close()


def test_store_follows_the_table(store: JobStore) -> None:
    store.apply(
        [
            Update("a", "t", JobStatus.QUEUED),
            Update("a", "t", JobStatus.RUNNING, {"worker": "w1"}),
            Update("a", "t", JobStatus.QUEUED),  # late, from another process: ignored
            Update("a", "t", JobStatus.RUNNING, {"current": 1, "total": 2}, progress=True),
            Update("a", "t", JobStatus.SUCCESS),
            Update("a", "t", JobStatus.ERROR),  # after a terminal status: ignored
        ]
    )
    job = store.get("a")
    assert job is not None
    assert job.status is JobStatus.SUCCESS
    assert job.info == {"worker": "w1", "current": 1, "total": 2}
    _, events = store.events_after("0" if isinstance(store, SQLiteJobStore) else "0-0", 0.1)
    assert [e["status"] for e in events] == ["queued", "running", "progress", "success"]


def test_success_while_canceling_ends_canceled(store: JobStore) -> None:
    store.apply([Update("b", "t", JobStatus.RUNNING), Update("b", "t", JobStatus.CANCELING)])
    store.apply([Update("b", "t", JobStatus.SUCCESS)])
    job = store.get("b")
    assert job is not None
    assert job.status is JobStatus.CANCELED


def test_progress_is_recorded_during_a_transfer_stage(store: JobStore) -> None:
    store.apply(
        [
            Update("d", "t", JobStatus.RUNNING),
            Update("d", "t", JobStatus.PUSHING_OUTPUT),
            Update("d", "t", JobStatus.RUNNING, {"current": 3, "total": 4}, progress=True),
        ]
    )
    job = store.get("d")
    assert job is not None
    assert job.status is JobStatus.PUSHING_OUTPUT
    assert job.info["current"] == 3


def test_cancel_flags_and_overdue(store: JobStore) -> None:
    store.apply([Update("c", "t", JobStatus.RUNNING)])
    store.request_cancel("c", "t", deadline=0.0)
    store.apply([Update("c", "t", JobStatus.CANCELING)])
    assert "c" in store.cancel_flags()
    assert [job.id for job in store.overdue_cancels(now=1.0)] == ["c"]

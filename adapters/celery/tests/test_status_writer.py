"""The status writer: batches, order, flush and stop, and what reaches the store and the relay."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from plugyard.adapters.celery._jobs import StatusWriter
from plugyard.adapters.celery._store import SQLiteJobStore, Update
from plugyard.sdk.tasks import JobStatus

pytestmark = pytest.mark.timeout(60)


class Recorder:
    """A store that records each ``apply`` call; ``delay`` makes every write slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[Update]] = []
        self.delay = delay
        self.closed = False

    def apply(self, updates: Sequence[Update]) -> None:
        time.sleep(self.delay)
        self.batches.append(list(updates))

    @property
    def written(self) -> list[tuple[str, JobStatus]]:
        return [(u.task_id, u.status) for batch in self.batches for u in batch]

    def close(self) -> None:
        self.closed = True


def _lifecycle(task_id: str) -> list[Update]:
    return [
        Update(task_id, "t", JobStatus.QUEUED),
        Update(task_id, "t", JobStatus.RUNNING, {"worker": "w"}),
        Update(task_id, "t", JobStatus.SUCCESS),
    ]


def test_flush_returns_once_everything_queued_is_written_in_order() -> None:
    store = Recorder(delay=0.02)
    writer = StatusWriter(lambda: store)
    updates = [u for i in range(50) for u in _lifecycle(f"t{i}")]
    for update in updates:
        writer.put(update)
    assert writer.flush(10)
    assert store.written == [(u.task_id, u.status) for u in updates]
    writer.stop()


def test_stop_writes_what_is_queued_then_a_new_update_starts_a_new_thread() -> None:
    store = Recorder(delay=0.05)
    writer = StatusWriter(lambda: store)
    writer.interval = 10.0  # nothing would be written for a long time without stop()
    writer.put(Update("a", "t", JobStatus.QUEUED))
    writer.flush(5)
    for update in _lifecycle("b"):
        writer.put(update)
    assert writer.stop(5)
    assert store.written[-3:] == [
        ("b", JobStatus.QUEUED),
        ("b", JobStatus.RUNNING),
        ("b", JobStatus.SUCCESS),
    ]
    assert store.closed  # the thread ended and let its connection go
    writer.put(Update("c", "t", JobStatus.QUEUED))
    assert writer.flush(5)
    assert store.written[-1] == ("c", JobStatus.QUEUED)
    writer.stop()


def test_a_busy_process_writes_a_few_large_batches() -> None:
    store = Recorder()
    writer = StatusWriter(lambda: store)
    writer.interval = 0.2
    deadline = time.monotonic() + 1.0
    sent = 0
    while time.monotonic() < deadline:
        writer.put(Update(f"t{sent}", "t", JobStatus.QUEUED))
        sent += 1
        time.sleep(0.0005)
    writer.stop()
    assert len(store.written) == sent
    assert len(store.batches) <= 8  # about one write per 0.2 s, not one per update


def test_an_idle_writer_writes_a_lone_update_promptly() -> None:
    store = Recorder()
    writer = StatusWriter(lambda: store)
    writer.interval = 30.0
    writer.put(Update("a", "t", JobStatus.RUNNING))
    deadline = time.monotonic() + 5
    while not store.written:
        assert time.monotonic() < deadline, "a lone update waited for the whole interval"
        time.sleep(0.005)
    writer.stop()


def test_a_failing_write_is_retried() -> None:
    class Flaky(Recorder):
        failed = False

        def apply(self, updates: Sequence[Update]) -> None:
            if not self.failed:
                self.failed = True
                raise OSError("disk busy")
            super().apply(updates)

    store = Flaky()
    writer = StatusWriter(lambda: store)
    writer.put(Update("a", "t", JobStatus.QUEUED))
    assert writer.flush(5)
    assert store.written == [("a", JobStatus.QUEUED)]
    writer.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_through_a_thread_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    writer = StatusWriter(lambda: SQLiteJobStore(path))
    writer.put(Update("parent", "t", JobStatus.QUEUED))
    writer.flush(5)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            writer.put(Update("child", "t", JobStatus.RUNNING))
            os._exit(0 if writer.stop(5) else 1)
        finally:
            os._exit(2)
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0
    writer.stop()
    store = SQLiteJobStore(path)
    assert store.get("parent") is not None
    child = store.get("child")
    assert child is not None
    assert child.status is JobStatus.RUNNING


def test_a_client_that_exits_at_once_leaves_its_queued_status(tmp_path: Path) -> None:
    """A script that sends and ends: the daemon writer thread is flushed at exit."""
    script = textwrap.dedent(
        f"""
        from plugyard.adapters.celery import connect

        app = connect({{"host": {{"runtime_dir": {str(tmp_path)!r}}}}})
        app.plugyard_jobs.writer.interval = 60.0
        app.plugyard_jobs.writer.linger = 30.0
        print(app.send_task("nobody.listens", (1,)).id)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    task_id = out.stdout.strip()
    job = SQLiteJobStore(tmp_path / "celery-jobs.sqlite").get(task_id)
    assert job is not None
    assert job.status is JobStatus.QUEUED
    assert job.name == "nobody.listens"


def test_tasks_of_another_celery_app_are_not_recorded(tmp_path: Path) -> None:
    from celery import Celery  # type: ignore[import-untyped]

    from plugyard.adapters.celery._core import client_service

    service = client_service({"host": {"runtime_dir": str(tmp_path)}})
    other = Celery("other", broker="memory://", set_as_current=False)
    foreign = other.send_task("other.task")
    ours = service.send("ours.task")
    assert service.jobs.writer.flush(5)
    assert service.jobs.store.get(foreign.id) is None
    job = service.jobs.store.get(ours.id)
    assert job is not None
    assert job.status is JobStatus.QUEUED


def test_events_are_logged_per_batch_and_read_in_order(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    start = store.last_event()
    store.db.execute(  # a row from an older store: one event, not a batch
        "INSERT INTO events (data) VALUES (?)",
        ('{"id":"old","name":"t","status":"queued","time":1.0}',),
    )
    store.apply(_lifecycle("a"))
    store.apply([*_lifecycle("b"), Update("a", "t", JobStatus.ERROR)])  # late: ignored
    cursor, events = store.events_after(start, 0.1)
    assert [(e["id"], e["status"]) for e in events] == [
        ("old", "queued"),
        ("a", "queued"),
        ("a", "running"),
        ("a", "success"),
        ("b", "queued"),
        ("b", "running"),
        ("b", "success"),
    ]
    assert events[2]["worker"] == "w"
    assert store.events_after(cursor, 0.0) == (cursor, [])


def test_relay_publishes_what_was_logged_before_it_stopped(tmp_path: Path) -> None:
    """The last updates written at shutdown still reach the host's event stream."""
    from plugyard.adapters.celery._service import Relay

    store = SQLiteJobStore(tmp_path / "jobs.sqlite")
    first_read = threading.Event()
    stopping = threading.Event()

    class Lagging(SQLiteJobStore):
        """The read under way when stop() comes finds nothing (it began before the write)."""

        def events_after(self, cursor: str, wait: float) -> tuple[str, list[dict[str, Any]]]:
            if not first_read.is_set():
                first_read.set()
                stopping.wait(5)
                return cursor, []
            return super().events_after(cursor, wait)

    service = SimpleNamespace(
        jobs=SimpleNamespace(_store_factory=lambda: Lagging(tmp_path / "jobs.sqlite")),
        resolve_overdue=lambda: 0,
    )

    published: list[tuple[str, dict[str, Any]]] = []
    relay = Relay(service, lambda topic, data: published.append((topic, data)))  # type: ignore[arg-type]
    relay.start()
    assert first_read.wait(5)
    store.apply(_lifecycle("a"))
    stopper = threading.Thread(target=relay.stop)
    stopper.start()
    assert relay._stop.wait(5), "stop() began while the read was under way"
    stopping.set()
    stopper.join(10)
    assert [topic for topic, _ in published] == [
        "task.t.queued",
        "task.t.running",
        "task.t.success",
    ]

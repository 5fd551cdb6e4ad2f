"""No task lost: a worker killed with SIGKILL loses nothing it had fetched.

Ten tasks, two of them running, on a worker killed with SIGKILL all complete on a fresh
worker, on the embedded broker and on Redis with ``acks_late``; only the two that were
running run twice (``acks_late`` marks a task as safe to run again). A task that is not
``acks_late`` and was running is marked lost, never left RUNNING.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import Setup, make_setup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SAMPLE = "celery_sample.tasks"


def _status(setup: Setup, task_id: str) -> dict[str, Any]:
    out = setup.tasks("status", task_id, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _wait(setup: Setup, task_id: str, wanted: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (status := _status(setup, task_id))["status"] != wanted:
        assert time.monotonic() < deadline, f"still {status} after {timeout}s"
        time.sleep(0.2)
    return status


@pytest.fixture(params=["embedded", "redis"])
def late(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    options: dict[str, str] = {"task_acks_late": "true", "worker_prefetch_multiplier": "4"}
    if request.param == "redis":
        # Redis gives back every unacknowledged message after visibility_timeout, prefetched
        # ones included: the timeout must exceed a prefetched task's wait plus its run, so
        # the guide's advice is a prefetch of one (the embedded broker waits for a dead pid).
        options["broker_transport_options"] = (
            "{ visibility_timeout = 5, unacked_restore_interval = 1 }"
        )
        options["worker_prefetch_multiplier"] = "1"
    yield from make_setup(request.param, tmp_path, tmp_path, **options)


def _kill(worker: Any) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def test_ten_tasks_on_a_killed_worker_all_complete_on_a_fresh_one(
    late: Setup, tmp_path: Path
) -> None:
    runs = [tmp_path / f"runs-{n}.txt" for n in range(10)]
    ids = [late.tasks("send", f"{SAMPLE}.once", str(path), "2").stdout.strip() for path in runs]
    first = late.start_worker(tmp_path / "first.log", "-c", "2", "-n", "first@%h")
    deadline = time.monotonic() + 30
    while sum(path.exists() for path in runs) < 2:  # two are running, the rest wait
        assert time.monotonic() < deadline, "no two tasks started"
        time.sleep(0.05)
    running = {path for path in runs if path.exists()}
    _kill(first)
    late.start_worker(tmp_path / "fresh.log", "-c", "2", "-n", "fresh@%h")
    _wait(late, ids[-1], "success")  # the last sent; by then the others are done too
    for task_id in ids[:-1]:
        assert _wait(late, task_id, "success", timeout=30)["status"] == "success"
    counts = {path: len(path.read_text().split()) for path in runs}
    assert all(counts[path] == 1 for path in runs if path not in running), counts
    assert all(counts[path] <= 2 for path in running), counts  # ran again after the kill


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Setup]:
    yield from make_setup("embedded", tmp_path, tmp_path)


def test_a_running_task_of_a_killed_worker_is_marked_lost_not_left_running(
    embedded: Setup, tmp_path: Path
) -> None:
    worker = embedded.start_worker(tmp_path / "w.log", "-c", "1")
    task_id = embedded.tasks("send", f"{SAMPLE}.sleeper", "60").stdout.strip()
    _wait(embedded, task_id, "running")
    _kill(worker)
    # a fresh worker marks the dead one's running job lost as it starts: slow on a busy machine
    embedded.start_worker(tmp_path / "fresh.log", "-c", "1")
    status = _wait(embedded, task_id, "error")
    assert status["error"].startswith("WorkerLost: the worker process")
    assert status["lost"] is True


def test_a_started_task_delivered_again_is_not_run_twice(embedded: Setup, tmp_path: Path) -> None:
    """A worker acknowledges an early-acking task once its pool took it: killed in between,
    it leaves the message to be delivered again. The run had started, so it is not run a
    second time: the job ends lost and the task body never runs again."""
    import socket

    from plugyard.adapters.celery._store import Update, open_store
    from plugyard.sdk.tasks import JobStatus

    runs = tmp_path / "runs.txt"
    task_id = embedded.tasks("send", f"{SAMPLE}.counted", str(runs), "0").stdout.strip()
    # the state a worker killed between its child's start and its ack leaves behind
    state = tmp_path / "state"
    dead = {"worker": socket.gethostname(), "pid": 999_999_999}
    store = open_store(f"sqlite:///{state / 'celery-jobs.sqlite'}")
    store.apply([Update(task_id, f"{SAMPLE}.counted", JobStatus.RUNNING, dead)])
    broker = state / "celery-broker.sqlite"
    with sqlite3.connect(broker) as db:
        taken = db.execute(
            "UPDATE messages SET taken_by = ?, taken_at = ?",
            (f"{dead['worker']}:{dead['pid']}", time.time()),
        ).rowcount
    assert taken == 1
    embedded.start_worker(tmp_path / "w.log", "-c", "1")
    status = _wait(embedded, task_id, "error")
    assert status["error"].startswith("WorkerLost: the worker process 999999999"), status
    assert status["lost"] is True
    # the message is delivered again and the worker decides, in the pool, not to run it
    log = tmp_path / "w.log"
    deadline = time.monotonic() + 60
    # ("ignored" is Celery's word for a run the task skipped, logged once it has ended)
    while not _decided(log.read_text()) or _messages(broker):
        assert time.monotonic() < deadline, f"{_messages(broker)}\n{log.read_text()}"
        time.sleep(0.1)
    assert not runs.exists(), runs.read_text()


def _decided(log: str) -> bool:
    return "not run again" in log and f"{SAMPLE}.counted[" in log and "] ignored" in log


def _messages(broker: Path) -> list[tuple[str | None]]:
    with sqlite3.connect(broker) as db:
        return db.execute("SELECT taken_by FROM messages").fetchall()

"""``self.job_manager`` (girder_worker's API) and job logs, on the embedded worker."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from plugyard.adapters.celery import CeleryService
from plugyard.adapters.celery._job_manager import JobManager, start_capture, stop_capture
from plugyard.adapters.celery._jobs import Jobs
from plugyard.adapters.celery._store import SQLiteJobStore
from plugyard.sdk.tasks import JobStatus

pytestmark = pytest.mark.timeout(60)

REPORTER = "celery_sample.tasks.reporter"

EXPECTED_LOG = (
    "hello ada\n"
    "half a line on stderr\n"
    "WARNING celery_sample.reporter: careful, ada\n"
    "from the job manager\n"
    "no newline at the end"
)


def wait_for_end(embedded: Any, task_id: str) -> None:
    """Until the relay has published the task's success (events of earlier tests stay)."""
    count = 1
    while True:
        found = embedded.events.wait_for(f"task.{REPORTER}.success", count=count, timeout=5)
        if any(e.data["id"] == task_id for e in found):
            return
        count = len(found) + 1


def test_printed_logged_and_written_text_is_the_job_log(embedded: Any) -> None:
    result = CeleryService.of(embedded.host).send(REPORTER, "ada")
    assert result.get(timeout=10) == "ada"
    wait_for_end(embedded, result.id)
    cursor, text = CeleryService.of(embedded.host).log(result.id)
    assert text == EXPECTED_LOG
    assert CeleryService.of(embedded.host).log(result.id, cursor) == (cursor, "")
    reply = embedded.run_command("tasks.log", id=result.id)
    assert reply["text"] == EXPECTED_LOG


def test_log_lines_and_progress_are_events(embedded: Any) -> None:
    result = CeleryService.of(embedded.host).send(REPORTER, "bo")
    result.get(timeout=10)
    wait_for_end(embedded, result.id)
    mine = [e for e in embedded.events.matching(f"task.{REPORTER}.*") if e.data["id"] == result.id]
    logged = "".join(e.data["text"] for e in mine if e.topic.endswith(".log"))
    assert logged == EXPECTED_LOG.replace("ada", "bo")
    progress = [e.data for e in mine if e.topic.endswith(".progress")]
    assert progress[0]["total"] == 10
    assert progress[0]["current"] == 7
    assert progress[0]["message"] == "seven"
    status = CeleryService.of(embedded.host).status(result.id)
    assert status["status"] == "success"
    assert status["total"] == 10  # updateProgress(current=8) kept total and message
    assert status["message"] == "seven"


def test_update_status_takes_girder_workers_codes(tmp_path: Any) -> None:
    jobs = Jobs(lambda: SQLiteJobStore(tmp_path / "jobs.sqlite"))
    manager = JobManager(jobs, "t1", "x.y")
    manager.updateStatus(2)
    manager.updateStatus(JobStatus.FETCHING_INPUT)
    manager.updateStatus("821")
    assert manager.refreshStatus() == 821
    assert jobs.status("t1") is JobStatus.CONVERTING_INPUT
    manager.updateStatus(JobStatus.SUCCESS)  # not allowed from CONVERTING_INPUT: ignored
    assert manager.refreshStatus() == 821
    with pytest.raises(ValueError, match="999"):
        manager.updateStatus(999)
    jobs.writer.stop()


def test_a_remote_manager_gets_the_same_calls(tmp_path: Any) -> None:
    calls: list[tuple[str, Any]] = []

    class Remote:
        url = "http://girder/api/v1/job/1"

        def updateProgress(self, **kwargs: Any) -> None:
            calls.append(("progress", kwargs))

        def updateStatus(self, status: int) -> None:
            calls.append(("status", status))

        def write(self, message: Any, forceFlush: bool = False) -> None:
            calls.append(("write", message))

    jobs = Jobs(lambda: SQLiteJobStore(tmp_path / "jobs.sqlite"))
    manager = JobManager(jobs, "t2", "x.y", remote=Remote())
    manager.updateStatus(JobStatus.RUNNING)
    manager.updateProgress(total=2, current=1)
    manager.write("line\n")
    assert manager.url == "http://girder/api/v1/job/1"
    assert calls == [
        ("status", 2),
        ("progress", {"total": 2, "current": 1, "message": None, "forceFlush": False}),
        ("write", "line\n"),
    ]
    jobs.writer.flush()
    assert jobs.store.read_log("t2")[1] == "line\n"
    jobs.writer.stop()


def test_capture_is_per_thread(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = Jobs(lambda: SQLiteJobStore(tmp_path / "jobs.sqlite"))
    ready = threading.Event()
    done = threading.Event()

    def other() -> None:
        ready.wait(5)
        print("from another thread")
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    start_capture(jobs, "t3", "x.y")
    try:
        print("from the task")
        ready.set()
        assert done.wait(5)
    finally:
        stop_capture()
    thread.join(5)
    jobs.writer.flush()
    assert jobs.store.read_log("t3")[1] == "from the task\n"
    assert "from another thread" in capsys.readouterr().out
    jobs.writer.stop()

"""``self.job_manager`` of every task, with girder_worker's method and argument names, and the
capture of what a task prints and logs into its job log.

Progress, status and log text go to plugyard's job store (and so to ``task.<name>.*``
events). A manager may mirror everything to a second one with the same API (``remote``):
girder_worker's own ``JobManager`` for a task sent by Girder, so that Girder's job API sees
what girder_worker would send it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from plugyard.sdk.tasks import JobStatus

if TYPE_CHECKING:
    from ._jobs import Jobs

__all__ = ["JobManager", "install_capture", "remote_only", "start_capture", "stop_capture"]

logger = logging.getLogger("plugyard.adapters.celery")

_local = threading.local()


@contextlib.contextmanager
def remote_only() -> Iterator[None]:
    """While this runs on a thread, job managers send to their remote only (girder_worker's
    own signal handlers use it: plugyard's store has those statuses already)."""
    outer = getattr(_local, "remote_only", False)
    _local.remote_only = True
    try:
        yield
    finally:
        _local.remote_only = outer


def _local_too() -> bool:
    return not getattr(_local, "remote_only", False)


def _status(status: Any) -> JobStatus:
    if isinstance(status, JobStatus):
        return status
    return JobStatus.from_code(status)


class JobManager:
    """One task run's job: ``updateProgress``, ``updateStatus``, ``write`` and
    ``refreshStatus``, as girder_worker's ``JobManager`` has them.

    Example (in a ``bind=True`` task)::

        self.job_manager.updateProgress(total=len(items), current=i, message="resizing")
        self.job_manager.write("resized 10 images\\n")
        self.job_manager.updateStatus(JobStatus.PUSHING_OUTPUT)
    """

    def __init__(self, jobs: Jobs, task_id: str, name: str, remote: Any = None) -> None:
        self.jobs = jobs
        self.task_id = task_id
        self.name = name
        self.remote = remote
        self.status: int | None = None
        self._total: float | None = None
        self._current: float | None = None
        self._message: str | None = None

    def updateProgress(
        self,
        total: float | None = None,
        current: float | None = None,
        message: str | None = None,
        forceFlush: bool = False,
    ) -> None:
        """Set progress; a ``None`` argument leaves that field as it was."""
        if total is not None:
            self._total = total
        if current is not None:
            self._current = current
        if message is not None:
            self._message = message
        if _local_too():
            self.jobs.progress(
                self.task_id,
                self.name,
                self._current,
                self._total,
                self._message,
                force=forceFlush,
            )
        if self.remote is not None:
            self.remote.updateProgress(
                total=total, current=current, message=message, forceFlush=forceFlush
            )

    def updateStatus(self, status: JobStatus | int | str | None) -> None:
        """Move the job to ``status`` (a :class:`JobStatus`, or girder_worker's integer);
        a move the status table forbids is ignored (and logged)."""
        if status is None:
            return
        found = _status(status)
        self.status = found.code
        if _local_too():
            self.jobs.report(self.task_id, self.name, found)
        if self.remote is not None:
            self.remote.updateStatus(found.code)

    def write(self, message: str | bytes, forceFlush: bool = False) -> None:
        """Append ``message`` to the job log."""
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        if _local_too():
            self.jobs.log(self.task_id, self.name, text)
        if self.remote is not None:
            self.remote.write(message, forceFlush=forceFlush)

    def refreshStatus(self) -> int:
        """The job's status code as the remote (else plugyard's store) has it now."""
        if self.remote is not None:
            self.status = int(self.remote.refreshStatus())
            return self.status
        self.jobs.writer.flush(5.0)
        found = self.jobs.status(self.task_id) or JobStatus.INACTIVE
        self.status = found.code
        return self.status

    def _flush(self) -> None:
        if self.remote is not None:
            self.remote._flush()

    def cleanup(self) -> None:
        """Release what the remote holds (its HTTP session, its capture of stdout)."""
        if self.remote is not None and callable(getattr(self.remote, "cleanup", None)):
            self.remote.cleanup()

    def __getattr__(self, name: str) -> Any:
        remote = self.__dict__.get("remote")
        if remote is None:
            raise AttributeError(name)
        return getattr(remote, name)

    def __repr__(self) -> str:
        return f"<JobManager {self.name}[{self.task_id}] remote={self.remote!r}>"


class _Capture:
    """The job-log buffer of the task running on one thread: whole lines go to the store."""

    __slots__ = ("buffer", "jobs", "name", "task_id")

    def __init__(self, jobs: Jobs, task_id: str, name: str) -> None:
        self.jobs = jobs
        self.task_id = task_id
        self.name = name
        self.buffer = ""

    def write(self, text: str) -> None:
        self.buffer += text
        cut = self.buffer.rfind("\n") + 1
        if cut:
            self.jobs.log(self.task_id, self.name, self.buffer[:cut])
            self.buffer = self.buffer[cut:]

    def close(self) -> None:
        if self.buffer:
            self.jobs.log(self.task_id, self.name, self.buffer)
            self.buffer = ""


def _capture() -> _Capture | None:
    if getattr(_local, "writing", False):
        return None
    return getattr(_local, "capture", None)


class _TeeStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr``: text written on a task's thread also goes to its job
    log; everything goes on to the stream it replaced."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        capture = _capture()
        if capture is not None:
            _local.writing = True
            try:
                capture.write(text)
            finally:
                _local.writing = False
        return int(self._stream.write(text) or len(text))

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_SKIPPED_LOGGERS = ("celery", "kombu", "amqp", "plugyard", "girder_worker")


class _LogHandler(logging.Handler):
    """Log records made on a task's thread, by the task's own loggers, into its job log.
    Celery's and plugyard's own records stay out, and so do girder_worker's (its handler
    prints them, and printed text is captured already)."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _capture()
        if capture is None or record.name.split(".")[0] in _SKIPPED_LOGGERS:
            return
        _local.writing = True
        try:
            capture.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)
        finally:
            _local.writing = False


_installed_lock = threading.Lock()


def install_capture() -> None:
    """Put the capturing streams in front of ``sys.stdout`` and ``sys.stderr`` (again, if
    something replaced them since), and the log handler on the root logger."""
    if isinstance(sys.stdout, _TeeStream) and isinstance(sys.stderr, _TeeStream):
        return
    with _installed_lock:
        if not isinstance(sys.stdout, _TeeStream):
            sys.stdout = _TeeStream(sys.stdout)
        if not isinstance(sys.stderr, _TeeStream):
            sys.stderr = _TeeStream(sys.stderr)
        root = logging.getLogger()
        if not any(isinstance(h, _LogHandler) for h in root.handlers):
            handler = _LogHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            root.addHandler(handler)


def start_capture(jobs: Jobs, task_id: str, name: str) -> None:
    """From now on, what this thread prints or logs goes to task ``task_id``'s job log."""
    install_capture()
    _local.capture = _Capture(jobs, task_id, name)


def stop_capture() -> None:
    """Write the rest of this thread's capture (an unfinished line) and stop capturing."""
    capture = getattr(_local, "capture", None)
    _local.capture = None
    if capture is not None:
        capture.close()

"""Where an operation runs: ``local`` (a thread of the engine), ``process`` (a child process
per operation, killed at its timeout) or ``celery`` (a task on an agent queue)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from plugyard.sdk.lifecycle import NonRecoverableError, RecoverableError, VersionConflict

from ._remote import describe_call, error_from_outcome, relog
from ._runner import OperationCall, has_wrappers, is_async
from ._threads import OperationThreads

if TYPE_CHECKING:
    from ._engine import Task, WorkflowRun

__all__ = [
    "EXECUTORS",
    "ExecutorName",
    "LocalExecutor",
    "OperationExecutor",
    "ProcessExecutor",
    "executor_for",
    "timed_out",
]

logger = logging.getLogger("plugyard.lifecycle")

ExecutorName = Literal["local", "process", "celery"]
EXECUTORS: tuple[str, ...] = ("local", "process", "celery")
"""The values of ``[lifecycle] executor``."""

KILL_GRACE = 2.0
"""Seconds a timed-out operation's process has after SIGTERM before SIGKILL."""
STARTUP_TIMEOUT = 60.0
"""Seconds a child may take to start and import its operation (or the operation's timeout,
if longer) before it is killed as timed out."""


class OperationExecutor(Protocol):
    """Runs one operation call for a workflow; raises what the operation raised."""

    async def invoke(self, run: WorkflowRun, task: Task, call: OperationCall) -> None:
        """Run ``call``; a timeout past ``task.spec.timeout`` raises :func:`timed_out`."""
        ...


def timed_out(task: Task) -> Exception:
    """The error of an operation that ran past its timeout (recoverable if the blueprint
    says ``timeout_recoverable``)."""
    message = f"operation {task.short_name} timed out after {task.spec.timeout:g}s"
    if task.spec.timeout_recoverable:
        return RecoverableError(message)
    return NonRecoverableError(message)


class LocalExecutor:
    """Operations on the workflow's threads (``async def`` ones on its loop).

    A thread cannot be stopped: at its timeout the operation is marked timed out and
    whatever it does afterwards is ignored (its runtime properties are not saved when it
    returns), but it keeps running until it returns. Use the ``process`` executor for
    operations that must be stopped."""

    async def invoke(self, run: WorkflowRun, task: Task, call: OperationCall) -> None:
        pm = run.env.pm
        wrapped = has_wrappers(pm)
        coro: Awaitable[Any]
        if is_async(call.function) and not wrapped:
            coro = run._run_async(call)
        else:
            hook = pm.hook.plugyard_lifecycle_operation if wrapped else None
            target: Callable[[], Any] = (lambda: hook(call=call)) if hook is not None else call.run
            pool = run._pool
            if isinstance(pool, OperationThreads):
                coro = pool.run(target)
            else:
                coro = asyncio.get_running_loop().run_in_executor(pool, target)
        if not task.spec.timeout:
            await coro
            return
        try:
            await asyncio.wait_for(coro, task.spec.timeout)
        except TimeoutError:
            call.abandoned = True
            raise timed_out(task) from None


# -- process ---------------------------------------------------------------------------------

_BACKEND_METHODS = frozenset(
    {"load_runtime_properties", "save_runtime_properties", "read_resource", "workdir"}
)


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


class _Child:
    """One operation's child process and the engine-side end of its pipe."""

    def __init__(
        self,
        request: dict[str, Any],
        backend: Any,
        on_start: Callable[[], None],
        python: Path | None = None,
    ) -> None:
        self.request = request
        self.backend = backend
        self.on_start = on_start
        self.python = python
        self.process: Any = None
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def run(self) -> dict[str, Any]:
        """Start the child, answer its ``ctx`` calls, return its outcome (a thread's work)."""
        with self._lock:
            if self._stopped:
                return {"status": "error", "kind": "other", "type": "Cancelled", "message": ""}
            parent = self._start_forked() if self.python is None else self._start_in(self.python)
            self.pid = self.process.pid
        outcome: dict[str, Any] | None = None
        try:
            outcome = self._serve(parent)
        finally:
            parent.close()
            self.process.join()
        if outcome is None:
            code = self.process.exitcode
            outcome = {
                "status": "error",
                "kind": "other",
                "type": "OperationProcessDied",
                "message": f"the operation's process {self.pid} ended with exit code {code} "
                "before it reported a result",
                "pid": self.pid,
            }
        return outcome

    def _start_forked(self) -> Any:
        from ._child import main

        mp = _context()
        parent, child = mp.Pipe()
        self.process = mp.Process(
            target=main, args=(child, self.request), daemon=True, name="plugyard-operation"
        )
        self.process.start()
        child.close()
        return parent

    def _start_in(self, python: Path) -> Any:
        """A child run by another Python (a plugin's own environment), over a socket pair;
        the request is its first message."""
        ours, theirs = socket.socketpair()
        try:
            popen = subprocess.Popen(
                # -P: the working folder does not go in front of the plugin's packages.
                [str(python), "-P", "-c", _CHILD_MAIN, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.process = _Popened(popen)
        parent = Connection(ours.detach())
        parent.send(self.request)
        return parent

    def _serve(self, conn: Any) -> dict[str, Any] | None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return None
            kind = message[0]
            if kind == "result":
                return dict(message[1])
            if kind == "started":
                self.on_start()
                continue
            if kind == "log":
                relog(message[1])
                continue
            method, args = message[1], message[2]
            try:
                if method not in _BACKEND_METHODS:
                    raise NonRecoverableError(f"unknown context call {method!r}")
                value = getattr(self.backend, method)(*args)
            except VersionConflict as exc:
                reply: tuple[Any, ...] = ("conflict", (exc.instance_id, exc.expected, exc.actual))
            except Exception as exc:
                reply = ("error", _portable(exc))
            else:
                reply = ("ok", value)
            try:
                conn.send(reply)
            except (OSError, ValueError):
                return None

    def stop(self) -> None:
        """End the child now: SIGTERM, then SIGKILL after :data:`KILL_GRACE` seconds."""
        with self._lock:
            self._stopped = True
            process = self.process
        if process is None or process.exitcode is not None:
            return
        process.terminate()
        process.join(KILL_GRACE)
        if process.exitcode is None:
            process.kill()
            process.join()


_CHILD_MAIN = (
    "import sys; from plugyard.adapters.lifecycle._child import main_over; "
    "main_over(int(sys.argv[1]))"
)


class _Popened:
    """A :class:`subprocess.Popen` with the parts of :class:`multiprocessing.Process` used
    here."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def terminate(self) -> None:
        self.popen.terminate()

    def kill(self) -> None:
        self.popen.kill()


_mp_lock = threading.Lock()


def _context() -> Any:
    """The ``forkserver`` context: a clean server process forks each operation's child,
    so the child inherits no thread or lock of the engine's and starts in milliseconds."""
    with _mp_lock:
        mp = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload(["plugyard.adapters.lifecycle._child"])
        return mp


class ProcessExecutor:
    """Each operation in a child process of its own; ``ctx`` calls (runtime properties,
    resources) go back to the engine over a pipe, so saves stay versioned in the store.

    At its timeout the child is killed (SIGTERM, then SIGKILL); a child that dies without
    a result is an operation error, retried as configured. Operation wrappers
    (``plugyard_lifecycle_operation``) are not called: they live in the engine's process.

    With ``python``, each child is that interpreter (a plugin's own virtual environment)
    started afresh, rather than forked from a server of the engine's."""

    def __init__(self, python: Path | None = None) -> None:
        self.python = python

    async def invoke(self, run: WorkflowRun, task: Task, call: OperationCall) -> None:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        def on_start() -> None:
            loop.call_soon_threadsafe(_settle, started)

        request = describe_call(call)
        if self.python is not None:
            # The plugin's environment finds plugyard itself; the engine's path stays out.
            request["sys_path"] = []
        child = _Child(request, run.env.backend, on_start, self.python)
        future = loop.run_in_executor(run._pool, child.run)
        timeout = task.spec.timeout
        try:
            if timeout:
                # The timeout is the operation's: it runs from the moment the function is
                # called, once the child has started and imported it (bounded apart).
                either: set[asyncio.Future[Any]] = {future, started}
                await asyncio.wait(
                    either,
                    timeout=max(STARTUP_TIMEOUT, timeout),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                try:
                    if not started.done() and not future.done():
                        raise TimeoutError
                    outcome = await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    await loop.run_in_executor(None, child.stop)
                    await asyncio.gather(future, return_exceptions=True)
                    run.note_outcome(task, {"pid": child.pid, "killed": True})
                    raise timed_out(task) from None
            else:
                outcome = await asyncio.shield(future)
        except asyncio.CancelledError:
            await loop.run_in_executor(None, child.stop)
            raise
        run.note_outcome(task, outcome)
        error = error_from_outcome(outcome)
        if error is not None:
            raise error


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def executor_for(name: str) -> OperationExecutor:
    """The executor called ``name`` (one of :data:`EXECUTORS`)."""
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor()
    if name == "celery":
        from ._agent_client import CeleryExecutor

        return CeleryExecutor()
    raise ValueError(f"unknown lifecycle executor {name!r} (known: {', '.join(EXECUTORS)})")

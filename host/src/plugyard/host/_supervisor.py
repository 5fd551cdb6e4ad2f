"""Process supervisor shared by every adapter that runs plugins out of process.

It spawns child programs, captures their output, restarts them according to a policy with
exponential backoff, stops restarting programs that flap, stops them gracefully and makes sure
they do not outlive the host. Every method must be called on the host's event loop thread.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ctypes
import dataclasses
import functools
import grp
import inspect
import logging
import os
import pwd
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "PARENT_PID_ENV",
    "ProcessInfo",
    "ProcessSpec",
    "ProcessState",
    "RestartPolicy",
    "Supervisor",
    "SupervisorError",
]

_LOGGER = logging.getLogger("plugyard.host.supervisor")
_PR_SET_PDEATHSIG = 1
_MAX_LINE_BYTES = 64 * 1024
_DRAIN_GRACE = 1.0
PARENT_PID_ENV = "PLUGYARD_PARENT_PID"


class SupervisorError(RuntimeError):
    """Raised when an operation does not fit the process's current state."""


class RestartPolicy(StrEnum):
    """When a process that exited on its own is started again."""

    NEVER = "never"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


class ProcessState(StrEnum):
    """Where a supervised process is in its life cycle."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"
    FLAPPING = "flapping"


_FINAL_STATES = frozenset({ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FLAPPING})
_Waiter = tuple[frozenset[ProcessState], "asyncio.Future[ProcessInfo]"]


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """What to run and how to look after it; ``argv[0]`` is executed directly, without a shell."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    restart: RestartPolicy = RestartPolicy.ON_FAILURE
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    backoff_factor: float = 2.0
    flap_attempts: int = 5
    flap_window: float = 10.0
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 5.0
    log_lines: int = 200
    inherit_env: bool = True
    forget_on_exit: bool = False
    pass_fds: Sequence[int] = ()
    """Open file descriptors the child inherits under the same numbers (bound sockets)."""
    on_output: Callable[[str, str], Any] | None = None
    """Called with ``("stdout" or "stderr", line)`` for each output line (as well as the log)."""
    user: str | int | None = None
    """Run the child as this user (a name or a uid), with its groups; only root may switch."""
    group: str | int | None = None
    """Run the child with this group (a name or a gid); by default the user's own group."""

    def __post_init__(self) -> None:
        """Reject specs that would make supervision misbehave later, and freeze ``argv``."""
        if not self.name:
            raise ValueError("ProcessSpec.name must not be empty")
        if isinstance(self.argv, str | bytes) or not self.argv:
            raise ValueError(f"ProcessSpec {self.name!r}: argv must be a non-empty list of str")
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "restart", RestartPolicy(self.restart))
        checks = {
            "backoff_initial": self.backoff_initial >= 0,
            "backoff_max": self.backoff_max >= 0,
            "backoff_factor": self.backoff_factor >= 1,
            "flap_attempts": self.flap_attempts >= 1,
            "flap_window": self.flap_window >= 0,
            "stop_timeout": self.stop_timeout >= 0,
            "log_lines": self.log_lines >= 0,
        }
        bad = [key for key, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"ProcessSpec {self.name!r}: invalid value for {', '.join(bad)}")


@dataclass(frozen=True, slots=True)
class _Identity:
    """A resolved user and group for a child: ids, and the supplementary groups."""

    uid: int | None
    gid: int | None
    groups: tuple[int, ...] | None

    def popen_kwargs(self) -> dict[str, Any]:
        """The ``user``, ``group`` and ``extra_groups`` arguments of ``subprocess.Popen``."""
        kwargs: dict[str, Any] = {}
        if self.uid is not None:
            kwargs["user"] = self.uid
        if self.gid is not None:
            kwargs["group"] = self.gid
        if self.groups is not None:
            kwargs["extra_groups"] = list(self.groups)
        return kwargs


def _lookup_user(name: str, user: str | int) -> pwd.struct_passwd:
    try:
        if isinstance(user, int) or str(user).isdigit():
            return pwd.getpwuid(int(user))
        return pwd.getpwnam(str(user))
    except KeyError:
        raise SupervisorError(f"process {name!r}: no user {user!r} on this machine") from None


def _lookup_group(name: str, group: str | int) -> int:
    try:
        if isinstance(group, int) or str(group).isdigit():
            return grp.getgrgid(int(group)).gr_gid
        return grp.getgrnam(str(group)).gr_gid
    except KeyError:
        raise SupervisorError(f"process {name!r}: no group {group!r} on this machine") from None


def _identity(name: str, user: str | int | None, group: str | int | None) -> _Identity | None:
    """Resolve ``user`` and ``group``; refuse a switch the host's user is not permitted."""
    if user is None and group is None:
        return None
    entry = _lookup_user(name, user) if user is not None else None
    gid = _lookup_group(name, group) if group is not None else None
    if gid is None and entry is not None:
        gid = entry.pw_gid
    uid = entry.pw_uid if entry is not None else None
    euid = os.geteuid()
    if euid != 0 and (uid not in (None, euid) or gid not in (None, os.getegid())):
        wanted = f"user {user!r}" if uid not in (None, euid) else f"group {group!r}"
        raise SupervisorError(
            f"process {name!r}: cannot run as {wanted}: the host runs as uid {euid}, and only "
            "root may start a process as another user or group"
        )
    groups = tuple(os.getgrouplist(entry.pw_name, gid or entry.pw_gid)) if entry else None
    if euid != 0:
        groups = None
    return _Identity(uid=uid, gid=gid, groups=groups)


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A snapshot of one supervised process; ``reason`` says why it is in ``state``."""

    name: str
    state: ProcessState
    pid: int | None
    restarts: int
    crashes: int
    exit_code: int | None
    started_at: float | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping, for status commands and events."""
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data


class _LineSplitter:
    """Cut a byte stream into text lines, truncating lines too long to log sensibly."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._buffer = bytearray()
        self._dropped = 0

    def feed(self, data: bytes) -> None:
        """Append ``data`` and emit every line it completes."""
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            self._append(data[start:newline])
            self._flush()
            start = newline + 1
        self._append(data[start:])

    def close(self) -> None:
        """Emit a last line that had no newline."""
        if self._buffer or self._dropped:
            self._flush()

    def _append(self, piece: bytes) -> None:
        room = _MAX_LINE_BYTES - len(self._buffer)
        if len(piece) > room:
            self._buffer += piece[:room]
            self._dropped += len(piece) - room
        else:
            self._buffer += piece

    def _flush(self) -> None:
        text = self._buffer.decode("utf-8", errors="replace").removesuffix("\r")
        if self._dropped:
            text += f" [... {self._dropped} bytes truncated]"
        self._buffer.clear()
        self._dropped = 0
        self._emit(text)


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Turn pipe data into lines and report exit as soon as the child itself is reaped.

    Used instead of ``create_subprocess_exec``, whose ``Process.wait()`` also waits for the
    pipes to close, so a leftover grandchild holding them would hide the child's exit.
    """

    def __init__(self, emit: Callable[[str, str], None]) -> None:
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._splitters = {
            1: _LineSplitter(functools.partial(emit, "stdout")),
            2: _LineSplitter(functools.partial(emit, "stderr")),
        }

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        splitter = self._splitters.get(fd)
        if splitter is not None:
            splitter.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        splitter = self._splitters.get(fd)
        if splitter is not None:
            splitter.close()

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(slots=True, eq=False)
class _Child:
    """One spawned incarnation of a supervised process."""

    transport: asyncio.SubprocessTransport
    protocol: _ChildProtocol
    pid: int
    started: float


@dataclass(slots=True, eq=False)
class _Record:
    """Mutable bookkeeping for one process name; only the supervisor touches it."""

    spec: ProcessSpec
    logs: deque[str]
    state: ProcessState = ProcessState.STOPPED
    reason: str | None = None
    child: _Child | None = None
    restarts: int = 0
    crashes: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    crash_times: deque[float] = field(default_factory=deque)
    backoff_step: int = 0
    stop_timeout: float | None = None
    stop_asked: asyncio.Future[None] = field(init=False)
    done: asyncio.Future[None] = field(init=False)
    watcher: asyncio.Task[None] | None = None

    @property
    def stop_requested(self) -> bool:
        """Whether the operator asked this launch to stop."""
        return self.stop_asked.done()


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """Return libc's ``prctl`` on Linux, or None where it is unavailable."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        _LOGGER.warning("prctl unavailable: children will not die with the host")
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    func.restype = ctypes.c_int
    prctl: Callable[..., int] = func
    return prctl


def _orphan_guard() -> Callable[[], None] | None:
    """Build the pre-exec hook that makes the kernel SIGKILL the child when the host dies."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def guard() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return guard


def _describe_exit(code: int | None) -> str:
    """Render an exit code (negative means a signal) for humans."""
    if code is None:
        return "failed to spawn"
    if code < 0:
        return f"killed by {_signal_name(-code)}"
    return f"exited with code {code}"


def _signal_name(sig: int) -> str:
    """Return ``SIGTERM`` for 15, or ``signal 99`` for numbers without a name."""
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _signal_group(pid: int, sig: int) -> None:
    """Signal the child's whole process group, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _is_config_override(key: str) -> bool:
    """``PLUGYARD_<SECTION>__<KEY>`` configures the host (and may hold secrets such as a
    database URL); children get such a variable only when their spec passes it."""
    return key.startswith("PLUGYARD_") and "__" in key


class Supervisor:
    """Run named child processes, restart them by policy and stop them on request.

    ``python_path`` folders go in front of every child's ``PYTHONPATH``.
    """

    def __init__(
        self,
        *,
        publish: Callable[..., Any] | None = None,
        logger: logging.Logger | None = None,
        python_path: Sequence[str] = (),
    ) -> None:
        self._publish = publish
        self._python_path = list(python_path)
        self._log = logger if logger is not None else _LOGGER
        self._records: dict[str, _Record] = {}
        self._callbacks: builtins.list[Callable[[ProcessInfo], Any]] = []
        self._waiters: dict[str, builtins.list[_Waiter]] = {}
        self._pending: set[asyncio.Task[Any]] = set()

    async def start(self, spec: ProcessSpec) -> ProcessInfo:
        """Spawn ``spec`` now; a spawn failure is raised, a live process of that name refused."""
        current = self._records.get(spec.name)
        if current is not None and current.state not in _FINAL_STATES:
            raise SupervisorError(f"process {spec.name!r} is already {current.state.value}")
        _identity(spec.name, spec.user, spec.group)
        record = _Record(spec=spec, logs=deque(maxlen=spec.log_lines))
        if current is not None:
            record.logs.extend(current.logs)
        self._records[spec.name] = record
        await self._launch(record, "started by request")
        return self._info(record)

    async def stop(self, name: str, *, timeout: float | None = None) -> ProcessInfo:
        """Stop gracefully (signal, wait, SIGKILL); never counted as a crash, never restarted."""
        record = self._record(name)
        if record.state in _FINAL_STATES:
            return self._info(record)
        if not record.stop_requested:
            record.stop_timeout = timeout
            record.stop_asked.set_result(None)
        await asyncio.shield(record.done)
        return self._info(record)

    async def restart(self, name: str) -> ProcessInfo:
        """Stop the process if it runs, then spawn it again with its crash history cleared."""
        record = self._record(name)
        await self.stop(name)
        if self._records.get(name) is not record or record.state not in _FINAL_STATES:
            raise SupervisorError(f"process {name!r} changed while restarting")
        record.restarts += 1
        record.crash_times.clear()
        record.backoff_step = 0
        await self._launch(record, "restarted by request")
        return self._info(record)

    async def stop_all(self, *, timeout: float | None = None) -> None:
        """Stop every process concurrently; used at host shutdown, so failures are only logged."""
        names = builtins.list(self._records)
        results = await asyncio.gather(
            *(self.stop(name, timeout=timeout) for name in names), return_exceptions=True
        )
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                self._log.error("[%s] stop failed: %r", name, result, extra={"plugin": name})

    async def wait(
        self,
        name: str,
        *states: ProcessState,
        timeout: float | None = None,
    ) -> ProcessInfo:
        """Wait until ``name`` enters one of ``states`` (default: stopped, exited or flapping)."""
        record = self._record(name)
        wanted = frozenset(states) or _FINAL_STATES
        if record.state in wanted:
            return self._info(record)
        future: asyncio.Future[ProcessInfo] = asyncio.get_running_loop().create_future()
        entry = (wanted, future)
        self._waiters.setdefault(name, []).append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            waiters = self._waiters.get(name, [])
            if entry in waiters:
                waiters.remove(entry)

    def get(self, name: str) -> ProcessInfo:
        """Return the current snapshot of ``name``."""
        return self._info(self._record(name))

    def list(self) -> builtins.list[ProcessInfo]:
        """Return snapshots of all known processes, in the order they were first started."""
        return [self._info(record) for record in self._records.values()]

    def logs(self, name: str) -> builtins.list[str]:
        """Return the last captured output lines, each prefixed ``stdout: `` or ``stderr: ``."""
        return builtins.list(self._record(name).logs)

    def on_state(self, callback: Callable[[ProcessInfo], Any]) -> Callable[[], None]:
        """Call ``callback`` with a snapshot on every state change; returns an unsubscribe."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def forget(self, name: str) -> None:
        """Drop a process that is no longer running from the table."""
        record = self._record(name)
        if record.state not in _FINAL_STATES:
            raise SupervisorError(f"process {name!r} is {record.state.value}; stop it first")
        del self._records[name]

    def _forget_record(self, record: _Record) -> None:
        if self._records.get(record.spec.name) is record:
            del self._records[record.spec.name]

    def _record(self, name: str) -> _Record:
        try:
            return self._records[name]
        except KeyError:
            raise KeyError(f"no supervised process named {name!r}") from None

    def _info(self, record: _Record) -> ProcessInfo:
        return ProcessInfo(
            name=record.spec.name,
            state=record.state,
            pid=record.child.pid if record.child is not None else None,
            restarts=record.restarts,
            crashes=record.crashes,
            exit_code=record.exit_code,
            started_at=record.started_at,
            reason=record.reason,
        )

    async def _launch(self, record: _Record, reason: str) -> None:
        """Spawn the first incarnation and hand it to a fresh watcher task."""
        loop = asyncio.get_running_loop()
        record.stop_timeout = None
        record.stop_asked = loop.create_future()
        record.done = loop.create_future()
        try:
            child = await self._spawn(record, reason)
        except BaseException as exc:
            self._set_state(record, ProcessState.EXITED, f"spawn failed: {exc}")
            record.done.set_result(None)
            raise
        record.watcher = asyncio.create_task(
            self._watch(record, child), name=f"plugyard-supervisor:{record.spec.name}"
        )

    async def _spawn(self, record: _Record, reason: str) -> _Child:
        """Start one incarnation; runs on the loop thread, which PDEATHSIG is tied to."""
        spec = record.spec
        self._set_state(record, ProcessState.STARTING, reason)
        if spec.inherit_env:
            env = {k: v for k, v in os.environ.items() if not _is_config_override(k)}
        else:
            env = {"PATH": os.environ.get("PATH", "")}
        env.update(spec.env or {})
        if self._python_path:
            inherited = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
            env["PYTHONPATH"] = os.pathsep.join(self._python_path + inherited)
        env[PARENT_PID_ENV] = str(os.getpid())
        identity = _identity(spec.name, spec.user, spec.group)
        loop = asyncio.get_running_loop()
        emit = functools.partial(self._child_line, record)
        transport, protocol = await loop.subprocess_exec(
            lambda: _ChildProtocol(emit),
            *spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=spec.cwd,
            env=env,
            start_new_session=True,
            pass_fds=tuple(spec.pass_fds),
            preexec_fn=_orphan_guard(),
            **(identity.popen_kwargs() if identity is not None else {}),
        )
        child = _Child(transport, protocol, transport.get_pid(), time.monotonic())
        record.child = child
        record.exit_code = None
        record.started_at = time.time()
        self._log.info("[%s] spawned pid %d", spec.name, child.pid, extra={"plugin": spec.name})
        self._emit(f"process.{spec.name}.spawned", pid=child.pid)
        self._set_state(record, ProcessState.RUNNING, reason)
        return child

    async def _watch(self, record: _Record, first: _Child) -> None:
        """Follow one launch until it ends for good, restarting it as its policy says."""
        child: _Child | None = first
        try:
            while child is not None:
                code = await self._await_exit(record, child)
                child = await self._after_exit(record, code, time.monotonic() - child.started)
        except Exception as exc:
            self._log.exception("[%s] supervision failed", record.spec.name)
            self._set_state(record, ProcessState.EXITED, f"supervisor error: {exc!r}")
        finally:
            live = record.child
            if live is not None and not live.protocol.exited.done():
                _signal_group(live.pid, signal.SIGKILL)
                live.transport.close()
                record.child = None
            if not record.done.done():
                record.done.set_result(None)
            if record.spec.forget_on_exit and self._records.get(record.spec.name) is record:
                asyncio.get_running_loop().call_later(1.0, self._forget_record, record)

    async def _await_exit(self, record: _Record, child: _Child) -> int | None:
        """Wait for the child to exit or for a stop request, then clean up its group and pipes."""
        await asyncio.wait(
            {child.protocol.exited, record.stop_asked}, return_when=asyncio.FIRST_COMPLETED
        )
        if not child.protocol.exited.done():
            await self._terminate(record, child)
        _signal_group(child.pid, signal.SIGKILL)
        await self._drain(child)
        code = child.transport.get_returncode()
        record.child = None
        record.exit_code = code
        name, expected = record.spec.name, record.stop_requested
        level = logging.INFO if expected or code == 0 else logging.WARNING
        extra = {"plugin": name}
        self._log.log(level, "[%s] pid %d %s", name, child.pid, _describe_exit(code), extra=extra)
        self._emit(f"process.{name}.exited", pid=child.pid, exit_code=code, expected=expected)
        return code

    async def _terminate(self, record: _Record, child: _Child) -> None:
        """Send the stop signal to the group, then SIGKILL it once the timeout has passed."""
        spec = record.spec
        timeout = spec.stop_timeout if record.stop_timeout is None else record.stop_timeout
        self._set_state(record, ProcessState.STOPPING, "stop requested")
        _signal_group(child.pid, spec.stop_signal)
        try:
            await asyncio.wait_for(asyncio.shield(child.protocol.exited), timeout)
        except TimeoutError:
            sent = _signal_name(spec.stop_signal)
            message = "[%s] still running %.1fs after %s; sending SIGKILL"
            self._log.warning(message, spec.name, timeout, sent, extra={"plugin": spec.name})
            _signal_group(child.pid, signal.SIGKILL)
            await child.protocol.exited

    async def _drain(self, child: _Child) -> None:
        """Let the pipes deliver their last lines; close them if an escaped process holds one."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(child.protocol.closed), _DRAIN_GRACE)
        child.transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(child.protocol.closed), _DRAIN_GRACE)

    async def _after_exit(self, record: _Record, code: int | None, uptime: float) -> _Child | None:
        """Decide what follows an exit and return the respawned child, if there is one."""
        if record.stop_requested:
            self._set_state(record, ProcessState.STOPPED, "stopped by request")
            return None
        detail = _describe_exit(code)
        delay = self._plan_restart(record, code, uptime, detail)
        while delay is not None:
            self._set_state(record, ProcessState.BACKOFF, f"{detail}; restarting in {delay:.2f}s")
            self._emit(f"process.{record.spec.name}.backoff", delay=delay)
            await asyncio.wait({record.stop_asked}, timeout=delay)
            if record.stop_requested:
                self._set_state(record, ProcessState.STOPPED, "stopped by request during backoff")
                return None
            try:
                child = await self._spawn(record, f"restarted after it {detail}")
            except OSError as exc:
                detail = f"failed to spawn: {exc}"
                self._log.error(
                    "[%s] %s", record.spec.name, detail, extra={"plugin": record.spec.name}
                )
                delay = self._plan_restart(record, None, 0.0, detail)
                continue
            record.restarts += 1
            return child
        return None

    def _plan_restart(
        self, record: _Record, code: int | None, uptime: float, detail: str
    ) -> float | None:
        """Count the exit, detect flapping and return the backoff delay, or None to give up."""
        spec = record.spec
        crashed = code != 0 or spec.restart is RestartPolicy.ALWAYS
        if crashed:
            record.crashes += 1
        if not crashed or spec.restart is RestartPolicy.NEVER:
            self._set_state(record, ProcessState.EXITED, f"{detail} (restart {spec.restart.value})")
            return None
        now = time.monotonic()
        record.crash_times.append(now)
        while record.crash_times and now - record.crash_times[0] > spec.flap_window:
            record.crash_times.popleft()
        if len(record.crash_times) >= spec.flap_attempts:
            count = len(record.crash_times)
            reason = f"{count} crashes within {spec.flap_window:g}s, last {detail}; not restarting"
            self._log.error("[%s] flapping: %s", spec.name, reason, extra={"plugin": spec.name})
            self._set_state(record, ProcessState.FLAPPING, reason)
            self._emit(
                f"plugin.{spec.name}.flapping",
                crashes=count,
                window=spec.flap_window,
                exit_code=code,
            )
            return None
        if uptime > spec.flap_window:
            record.backoff_step = 0
        delay = spec.backoff_initial * spec.backoff_factor**record.backoff_step
        record.backoff_step += 1
        return float(min(delay, spec.backoff_max))

    def _child_line(self, record: _Record, stream: str, line: str) -> None:
        """Record one output line in the ring buffer and forward it to the logger."""
        name = record.spec.name
        record.logs.append(f"{stream}: {line}")
        if record.spec.on_output is not None:
            self._call_safely(f"[{name}] output callback", record.spec.on_output, stream, line)
        level = logging.INFO if stream == "stdout" else logging.WARNING
        self._log.log(level, "[%s] %s", name, line, extra={"plugin": name, "stream": stream})

    def _set_state(self, record: _Record, state: ProcessState, reason: str | None) -> None:
        """Change state, then wake waiters and notify subscribers; a same-state call is silent."""
        changed = record.state is not state
        record.state = state
        record.reason = reason
        if not changed:
            return
        info = self._info(record)
        for wanted, future in builtins.list(self._waiters.get(info.name, [])):
            if state in wanted and not future.done():
                future.set_result(info)
        for callback in builtins.list(self._callbacks):
            self._call_safely(f"state callback {callback!r}", callback, info)

    def _emit(self, topic: str, **data: Any) -> None:
        """Publish an event through the host, if one was given."""
        if self._publish is not None:
            self._call_safely(f"publish {topic}", self._publish, topic, **data)

    def _call_safely(self, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run a host callback; its errors, sync or async, are logged and never stop supervision."""
        try:
            result = func(*args, **kwargs)
        except Exception:
            self._log.exception("%s failed", what)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._pending.add(task)
            task.add_done_callback(functools.partial(self._reap_callback, what))

    def _reap_callback(self, what: str, task: asyncio.Future[Any]) -> None:
        """Log the failure of an asynchronous publisher or callback."""
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("%s failed", what, exc_info=task.exception())

"""A circus watcher on plugyard: ``numprocesses`` copies of a command under the host's supervisor.

A watcher is a plugin of model ``watcher`` in the host's registry, so ``plugyard status``,
``start``, ``stop`` and the ``plugin.NAME.*`` events treat it like any plugin. Each of its
processes is a supervised process named ``NAME.WID`` (``WID`` counts from 1, as circus's
process ids), restarted by the supervisor while ``respawn`` holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from plugyard.host import ProcessSpec, ProcessState, RestartPolicy
from plugyard.sdk import StopPhase

from ._options import OptionError, WatcherOptions
from ._sockets import BoundSocket, substitute_sockets

if TYPE_CHECKING:
    from plugyard.host import Host, ProcessInfo

__all__ = ["Watcher", "watcher_topic_name"]

logger = logging.getLogger("plugyard.adapters.zmq.compat")

_RUNNING = frozenset({ProcessState.STARTING, ProcessState.RUNNING})
_ENDED = frozenset(
    {ProcessState.BACKOFF, ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FLAPPING}
)


def watcher_topic_name(name: str) -> str:
    """A watcher's name as circus writes it in topics: lower case, spaces as ``_``."""
    return name.lower().replace(" ", "_")


class Watcher:
    """A plugin handle that runs and supervises the processes of one watcher."""

    model = "watcher"
    hooks: tuple[str, ...] = ()
    stop_phase = StopPhase.PLUGINS

    def __init__(
        self,
        host: Host,
        options: WatcherOptions,
        *,
        source: str,
        env: dict[str, str],
        sockets: dict[str, BoundSocket] | None = None,
    ) -> None:
        self.host = host
        self.options = options
        self.source = source
        self.base_env = dict(env)
        self.sockets = sockets if sockets is not None else {}
        self._streams: dict[str, logging.Handler] = {}
        self.status = "stopped"
        self.wids: dict[int, str] = {}
        self._pids: dict[str, int] = {}
        self._unsubscribe = host.processes.on_state(self._on_process_state)
        self._lock = asyncio.Lock()
        for key in ("uid", "gid"):
            if getattr(options, key) is not None:
                logger.warning(
                    "[%s] %s = %s is not applied: the processes run as the host's user",
                    options.name,
                    key,
                    getattr(options, key),
                    extra={"plugin": options.name},
                )

    @property
    def name(self) -> str:
        """The watcher's name."""
        return self.options.name

    @property
    def order(self) -> int:
        """Higher ``priority`` starts first and stops last, as in circus."""
        return -self.options.priority

    # -- plugin handle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start ``numprocesses`` processes, ``warmup_delay`` apart."""
        async with self._lock:
            self.status = "starting"
            self._event("start")
            try:
                self._open_streams()
                await self._grow()
            except BaseException:
                self.status = "stopped"
                self._close_streams()
                raise
            self.status = "active"

    async def stop(self) -> None:
        """Stop every process (its ``stop_signal``, then SIGKILL after ``graceful_timeout``)."""
        async with self._lock:
            self.status = "stopping"
            self._event("stop")
            await self._shrink(0)
            self._close_streams()
            self.status = "stopped"

    def close(self) -> None:
        """Stop following the supervisor (the watcher was removed)."""
        self._unsubscribe()

    def describe(self) -> dict[str, Any]:
        """Status, process ids and command, for ``plugyard status NAME``."""
        return {
            "status": self.status,
            "numprocesses": self.options.numprocesses,
            "pids": self.pids(),
            "cmd": self.options.argv(),
            "source": self.source,
        }

    # -- output streams ---------------------------------------------------------------------

    def _open_streams(self) -> None:
        """A file per stream whose ``class`` is ``FileStream`` (rotated at ``max_bytes``,
        keeping ``backup_count`` old files); other output goes to the host's log."""
        from logging.handlers import RotatingFileHandler

        self._close_streams()
        for stream in ("stdout", "stderr"):
            conf = getattr(self.options, f"{stream}_stream")
            kind = str(conf.get("class", "StdoutStream")).rpartition(".")[2]
            if kind in ("StdoutStream", ""):
                continue
            if kind not in ("FileStream", "WatchedFileStream", "TimedRotatingFileStream"):
                raise OptionError(
                    f"{stream}_stream.class: {conf.get('class')!r} is not supported "
                    "(FileStream or StdoutStream)"
                )
            filename = conf.get("filename")
            if not filename:
                raise OptionError(f"{stream}_stream.filename is required for a FileStream")
            path = os.path.join(self.options.working_dir, str(filename))
            handler = RotatingFileHandler(
                path,
                maxBytes=int(conf.get("max_bytes", 0)),
                backupCount=int(conf.get("backup_count", 0)),
                encoding="utf-8",
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._streams[stream] = handler

    def _close_streams(self) -> None:
        for handler in self._streams.values():
            handler.close()
        self._streams.clear()

    def _output(self, stream: str, line: str) -> None:
        handler = self._streams.get(stream)
        if handler is not None:
            handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))

    # -- processes --------------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Process ids of the live processes, by process id (wid)."""
        found: list[int] = []
        for wid in sorted(self.wids):
            with contextlib.suppress(KeyError):
                info = self.host.processes.get(self.wids[wid])
                if info.pid is not None and info.state in _RUNNING:
                    found.append(info.pid)
        return found

    def process_count(self) -> int:
        """How many processes the watcher has."""
        return len(self.wids)

    def _spec(self, wid: int) -> ProcessSpec:
        options = self.options
        env = dict(self.base_env) if options.copy_env else {}
        if options.copy_path and "PATH" in self.base_env:
            env["PATH"] = self.base_env["PATH"]
        env.update(options.env)
        env["CIRCUS_WID"] = str(wid)
        attempts = options.max_retry + 1 if options.max_retry >= 0 else 1_000_000_000
        argv: list[str] = []
        fds: list[int] = []
        for arg in options.argv():
            text, used = substitute_sockets(arg, self.sockets)
            argv.append(text)
            fds.extend(used)
        if options.use_sockets:
            fds.extend(s.fileno() for s in self.sockets.values() if s.socket is not None)
        return ProcessSpec(
            name=f"{self.name}.{wid}",
            argv=argv,
            pass_fds=tuple(sorted(set(fds))),
            on_output=self._output if self._streams else None,
            env=env,
            cwd=options.working_dir,
            restart=RestartPolicy.ALWAYS if options.respawn else RestartPolicy.NEVER,
            backoff_initial=0.1,
            backoff_max=5.0,
            flap_attempts=attempts,
            flap_window=10.0,
            stop_signal=options.stop_signal,
            stop_timeout=options.graceful_timeout,
            inherit_env=options.copy_env,
        )

    async def _grow(self) -> None:
        first = True
        while len(self.wids) < self.options.numprocesses:
            if not first and self.options.warmup_delay > 0:
                await asyncio.sleep(self.options.warmup_delay)
            first = False
            wid = next(n for n in range(1, len(self.wids) + 2) if n not in self.wids)
            spec = self._spec(wid)
            self.wids[wid] = spec.name
            with contextlib.suppress(KeyError):
                self.host.processes.forget(spec.name)
            try:
                await self.host.processes.start(spec)
            except BaseException:
                self.wids.pop(wid, None)
                raise

    async def _shrink(self, keep: int) -> None:
        victims = sorted(self.wids)[keep:]
        await asyncio.gather(*(self._stop_one(wid) for wid in victims))

    async def _stop_one(self, wid: int, timeout: float | None = None) -> None:
        name = self.wids.get(wid)
        if name is None:
            return
        try:
            await self.host.processes.stop(name, timeout=timeout)
            self.host.processes.forget(name)
        except KeyError:
            pass
        self.wids.pop(wid, None)

    async def manage(self) -> int:
        """Bring the process count to ``numprocesses`` (only while active)."""
        async with self._lock:
            if self.status == "active":
                if len(self.wids) < self.options.numprocesses:
                    await self._grow()
                else:
                    await self._shrink(self.options.numprocesses)
            return self.options.numprocesses

    async def incr(self, nb: int = 1) -> int:
        """Add ``nb`` processes; returns the new ``numprocesses``."""
        self.options.set("numprocesses", self.options.numprocesses + nb)
        return await self.manage()

    async def decr(self, nb: int = 1) -> int:
        """Remove ``nb`` processes; returns the new ``numprocesses``."""
        self.options.set("numprocesses", max(self.options.numprocesses - nb, 0))
        return await self.manage()

    async def reload(self) -> None:
        """Start the processes again, one after the other (a graceful reload)."""
        async with self._lock:
            if self.status != "active":
                return
            for wid in sorted(self.wids):
                name = self.wids[wid]
                with contextlib.suppress(KeyError):
                    await self.host.processes.stop(name)
                    self.host.processes.forget(name)
                await self.host.processes.start(self._spec(wid))
            await asyncio.sleep(0)

    def set_option(self, key: str, value: Any) -> int:
        """Change one option; returns 1 when the processes must be started again, else 0."""
        before = self.options.listing()
        self.options.set(key, value)
        self._event("updated")
        base = key.partition(".")[0]
        if base in self.options.restart_keys() and before != self.options.listing():
            return 1
        return 0

    # -- signals ----------------------------------------------------------------------------

    def _pid_of(self, pid: int) -> str:
        for name in self.wids.values():
            with contextlib.suppress(KeyError):
                if self.host.processes.get(name).pid == pid:
                    return name
        raise OptionError(f"process {pid} not found in {self.name!r}")

    def signal(
        self,
        signum: int,
        pid: int | None = None,
        *,
        children: bool = False,
        recursive: bool = False,
    ) -> None:
        """Send ``signum`` to one process or all, to their children, or to both."""
        pids = [pid] if pid is not None else self.pids()
        if pid is not None:
            self._pid_of(pid)
        for target in pids:
            kids = _children_of(target, recursive or children)
            if not children:
                _send(target, signum)
            if children or recursive:
                for kid in kids:
                    _send(kid, signum)

    async def kill(
        self, pid: int | None, signum: int | None, graceful_timeout: float | None
    ) -> None:
        """Kill processes with ``signum`` (default ``stop_signal``); SIGKILL after the timeout.

        The supervisor then starts them again, as circus's ``manage_processes`` does.
        """
        if pid is not None:
            self._pid_of(pid)
        targets = [pid] if pid is not None else self.pids()
        sig = self.options.stop_signal if signum is None else signum
        timeout = self.options.graceful_timeout if graceful_timeout is None else graceful_timeout
        await asyncio.gather(*(self._kill_one(target, sig, timeout) for target in targets))

    async def _kill_one(self, pid: int, sig: int, timeout: float) -> None:
        name = self._pid_of(pid)
        _send(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                info = self.host.processes.get(name)
            except KeyError:
                return
            if info.pid != pid:
                return
            await asyncio.sleep(0.02)
        _send(pid, int(signal.SIGKILL))

    # -- events -----------------------------------------------------------------------------

    def _event(self, action: str, **data: Any) -> None:
        self.host.publish_event(
            f"watcher.{watcher_topic_name(self.name)}.{action}",
            {"time": time.time(), **data},
            source=self.name,
        )

    def _on_process_state(self, info: ProcessInfo) -> None:
        wid = next((w for w, n in self.wids.items() if n == info.name), None)
        if wid is None:
            return
        if info.state is ProcessState.RUNNING and info.pid is not None:
            self._pids[info.name] = info.pid
            self._event("spawn", process_id=wid, process_pid=info.pid)
        elif info.state in _ENDED and info.name in self._pids:
            pid = self._pids.pop(info.name)
            self._event("reap", process_id=wid, process_pid=pid, exit_code=info.exit_code)


def _send(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _children_of(pid: int, recursive: bool) -> list[int]:
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=recursive)]
    except psutil.Error:
        return []

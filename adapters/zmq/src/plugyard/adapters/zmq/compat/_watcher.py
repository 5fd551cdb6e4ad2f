"""A circus watcher on plugyard: ``numprocesses`` copies of a command under the host's supervisor.

A watcher is a plugin of model ``watcher`` in the host's registry, so ``plugyard status``,
``start``, ``stop`` and the ``plugin.NAME.*`` events treat it like any plugin. Each of its
processes is a supervised process named ``NAME.WID`` (``WID`` counts from 1, as circus's
process ids), restarted by the supervisor while ``respawn`` holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import signal
import time
from typing import TYPE_CHECKING, Any

from plugyard.host import ProcessSpec, ProcessState, RestartPolicy
from plugyard.sdk import StopPhase

from ._hooks import Hook, HookRefused, parse_hooks
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
        self.circus_hooks: dict[str, Hook] = parse_hooks(options.hooks)
        self._unsubscribe = host.processes.on_state(self._on_process_state)
        self._lock = asyncio.Lock()
        self._spawning: set[str] = set()
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._armed: list[int] = []
        self._tasks: set[asyncio.Task[Any]] = set()

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
        """Start ``numprocesses`` processes, ``warmup_delay`` apart; with ``on_demand``, wait
        for the first connection to one of the watcher's sockets instead."""
        async with self._lock:
            if not await self.call_hook("before_start"):
                raise self._refused("before_start", "not started")
            self.status = "starting"
            self._event("start")
            try:
                self._open_streams()
                if self.options.on_demand:
                    self._arm()
                else:
                    await self._grow()
                    if not await self.call_hook("after_start"):
                        raise self._refused("after_start", "stopped again")
            except Exception:
                self._disarm()
                await self._shrink(0)
                self.status = "stopped"
                self._close_streams()
                raise
            except BaseException:
                self._disarm()
                self.status = "stopped"
                self._close_streams()
                raise
            self.status = "active"

    async def stop(self) -> None:
        """Stop every process (its ``stop_signal``, then SIGKILL after ``graceful_timeout``)."""
        async with self._lock:
            await self.call_hook("before_stop")
            self.status = "stopping"
            self._event("stop")
            self._disarm()
            for handle in self._expiry.values():
                handle.cancel()
            self._expiry.clear()
            if self.options.stop_children:
                for pid in self.pids():
                    for kid in _children_of(pid, False):
                        _send(kid, self.options.stop_signal)
            await self._shrink(0)
            self._close_streams()
            self.status = "stopped"
            await self.call_hook("after_stop")

    def close(self) -> None:
        """Stop following the supervisor (the watcher was removed)."""
        self._unsubscribe()
        self._disarm()
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()

    # -- hooks ------------------------------------------------------------------------------

    async def call_hook(self, name: str, **kwargs: Any) -> bool:
        """Run hook ``name`` in a thread, as circus calls it; True when there is none.

        A failing hook is logged and published (``watcher.NAME.hook_failure``); it counts as
        success only where circus ignores its failures.
        """
        hook = self.circus_hooks.get(name)
        if hook is None:
            return True
        call = functools.partial(
            hook.func, watcher=self, arbiter=self.host, hook_name=name, **kwargs
        )
        try:
            result = await asyncio.to_thread(call)
        except Exception as exc:
            logger.exception(
                "[%s] hook %s (%s) failed",
                self.name,
                name,
                hook.target,
                extra={"plugin": self.name},
            )
            self._event("hook_failure", name=name, error=str(exc))
            return hook.failure_result()
        self._event("hook_success", name=name)
        return bool(result)

    def extended_stats(self, pid: int, stats: dict[str, Any]) -> None:
        """Let the ``extended_stats`` hook add to one process's ``stats`` (any thread)."""
        hook = self.circus_hooks.get("extended_stats")
        if hook is None:
            return
        try:
            hook.func(self, self.host, "extended_stats", pid=pid, stats=stats)
        except Exception:
            logger.exception("[%s] hook extended_stats failed", self.name)

    def _refused(self, name: str, what: str) -> HookRefused:
        target = self.circus_hooks[name].target
        return HookRefused(
            f"hooks.{name} ({target}) returned a false value or failed (see the log): "
            f"{self.name} {what}"
        )

    # -- on demand --------------------------------------------------------------------------

    def _socket_fds(self) -> list[int]:
        fds: set[int] = set()
        for arg in self.options.argv():
            fds.update(substitute_sockets(arg, self.sockets)[1])
        if self.options.use_sockets:
            fds.update(s.fileno() for s in self.sockets.values() if s.socket is not None)
        return sorted(fds)

    def _arm(self) -> None:
        """Watch the watcher's sockets; the first connection starts its processes."""
        fds = self._socket_fds()
        if not fds:
            raise OptionError(
                "on_demand: the watcher uses no socket ($(circus.sockets.NAME) in cmd or "
                "args, or use_sockets = true)"
            )
        loop = asyncio.get_running_loop()
        for fd in fds:
            loop.add_reader(fd, self._on_connection)
        self._armed = fds

    def _disarm(self) -> None:
        if not self._armed:
            return
        loop = asyncio.get_running_loop()
        for fd in self._armed:
            loop.remove_reader(fd)
        self._armed = []

    def _on_connection(self) -> None:
        if not self._armed:
            return
        self._disarm()
        logger.info("[%s] first connection: starting on demand", self.name)
        self._background(self._wake(), "start on demand")

    async def _wake(self) -> None:
        async with self._lock:
            if self.status == "active" and not self.wids:
                await self._grow()

    def _background(self, work: Any, what: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:
                logger.error(
                    "[%s] %s failed: %s", self.name, what, exc, extra={"plugin": self.name}
                )

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def describe(self) -> dict[str, Any]:
        """Status, process ids and command, for ``plugyard status NAME``."""
        return {
            "status": self.status,
            "waiting_for_connection": bool(self._armed),
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
            user=options.uid,
            group=options.gid,
        )

    def _max_age(self, name: str, pid: int) -> None:
        """Plan the restart of a process that reaches ``max_age`` (plus up to
        ``max_age_variance`` seconds, so that processes do not all restart at once)."""
        old = self._expiry.pop(name, None)
        if old is not None:
            old.cancel()
        if self.options.max_age <= 0:
            return
        delay = self.options.max_age + random.randint(0, max(self.options.max_age_variance, 0))
        loop = asyncio.get_running_loop()
        self._expiry[name] = loop.call_later(delay, self._expire, name, pid)

    def _expire(self, name: str, pid: int) -> None:
        self._expiry.pop(name, None)
        with contextlib.suppress(KeyError):
            if self.host.processes.get(name).pid == pid and self.status == "active":
                logger.info("[%s] pid %d reached max_age: restarting it", self.name, pid)
                self._background(self.host.processes.restart(name), f"max_age restart of {pid}")

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
            if not await self.call_hook("before_spawn"):
                self.wids.pop(wid, None)
                raise self._refused("before_spawn", "process not started")
            self._spawning.add(spec.name)
            try:
                info = await self.host.processes.start(spec)
            except BaseException:
                self.wids.pop(wid, None)
                raise
            finally:
                self._spawning.discard(spec.name)
            if not await self.call_hook("after_spawn", pid=info.pid):
                await self._stop_one(wid)
                raise self._refused("after_spawn", f"process {info.pid} stopped again")

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
            if self.status == "active" and not self._armed:
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
        """Start the processes again, one after the other (a graceful reload); with
        ``send_hup``, send them SIGHUP instead."""
        async with self._lock:
            if self.status != "active":
                return
            if self.options.send_hup:
                for pid in self.pids():
                    _send(pid, int(signal.SIGHUP))
                self._event("reload")
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
        if key.startswith("hooks"):
            self.circus_hooks = parse_hooks(self.options.hooks)
        self._event("updated")
        base = key.partition(".")[0]
        if base in self.options.restart_keys() and before != self.options.listing():
            return 1
        return 0

    def replace_options(self, options: WatcherOptions) -> None:
        """Take new options (a reloaded configuration); their hooks are resolved first."""
        hooks = parse_hooks(options.hooks)
        self.options, self.circus_hooks = options, hooks

    # -- signals ----------------------------------------------------------------------------

    def _pid_of(self, pid: int) -> str:
        for name in self.wids.values():
            with contextlib.suppress(KeyError):
                if self.host.processes.get(name).pid == pid:
                    return name
        raise OptionError(f"process {pid} not found in {self.name!r}")

    async def signal(
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
                await self.send_signal(target, signum)
            if children or recursive:
                for kid in kids:
                    _send(kid, signum)

    async def send_signal(self, pid: int, signum: int) -> None:
        """Signal one process, as circus does: ``before_signal`` may veto (except SIGKILL),
        ``after_signal`` follows."""
        allowed = await self.call_hook("before_signal", pid=pid, signum=signum)
        if allowed or signum == signal.SIGKILL:
            _send(pid, signum)
        await self.call_hook("after_signal", pid=pid, signum=signum)

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
        if self.options.stop_children:
            for kid in _children_of(pid, False):
                _send(kid, sig)
        await self.send_signal(pid, sig)
        self._event("kill", process_pid=pid)
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
            self._max_age(info.name, info.pid)
            if info.name not in self._spawning and "after_spawn" in self.circus_hooks:
                self._background(self._after_respawn(wid, info.pid), "after_spawn")
        elif info.state in _ENDED and info.name in self._pids:
            pid = self._pids.pop(info.name)
            timer = self._expiry.pop(info.name, None)
            if timer is not None:
                timer.cancel()
            self._event("reap", process_id=wid, process_pid=pid, exit_code=info.exit_code)
            if "before_reap" in self.circus_hooks or "after_reap" in self.circus_hooks:
                self._background(self._reap_hooks(pid, info.exit_code), "reap hooks")

    async def _reap_hooks(self, pid: int, exit_code: int | None) -> None:
        """``before_reap`` then ``after_reap`` for a process that exited (the supervisor
        reaps a child at once, so both come after the fact; their results are ignored)."""
        now = time.time()
        await self.call_hook("before_reap", process_pid=pid, time=now)
        await self.call_hook("after_reap", process_pid=pid, time=now, exit_code=exit_code)

    async def _after_respawn(self, wid: int, pid: int) -> None:
        """``after_spawn`` for a process the supervisor started again after an exit; a
        false value stops that process."""
        if not await self.call_hook("after_spawn", pid=pid):
            name = self.wids.get(wid)
            with contextlib.suppress(KeyError):
                if name is not None and self.host.processes.get(name).pid == pid:
                    await self.host.processes.stop(name)


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

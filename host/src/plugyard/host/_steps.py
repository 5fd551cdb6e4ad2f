"""The start/stop step stack: whatever start sets up is undone in reverse, each step bounded."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.sdk import StopPhase

from ._bus import EventBus
from ._config import HostSettings
from ._control import PluginControl
from ._dispatch import Dispatcher
from ._loader import Loader
from ._phases import PhaseError

if TYPE_CHECKING:
    from ._registry import PluginRecord
    from ._supervisor import Supervisor

__all__ = ["HostFacts", "Lifespan", "StepStack", "stop_signals"]

logger = logging.getLogger("plugyard.host")


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    undo: Callable[[], Awaitable[Any]]
    timeout: float


class StepStack:
    """Undo actions pushed as start goes; :meth:`unwind` runs them last-in first-out.

    A step that fails or overruns its timeout is logged and the unwinding goes on, so one
    stuck component never keeps the others from stopping.
    """

    __slots__ = ("_steps",)

    def __init__(self) -> None:
        self._steps: list[_Step] = []

    def push(self, name: str, undo: Callable[[], Awaitable[Any]], timeout: float) -> None:
        """Remember to run ``undo`` (within ``timeout`` seconds) when unwinding."""
        self._steps.append(_Step(name, undo, timeout))

    @property
    def names(self) -> list[str]:
        """The steps still to undo, first to run first."""
        return [step.name for step in reversed(self._steps)]

    async def unwind(self) -> None:
        """Run every undo action, newest first."""
        while self._steps:
            step = self._steps.pop()
            try:
                async with asyncio.timeout(step.timeout):
                    await step.undo()
            except TimeoutError:
                logger.error("shutdown: %s did not finish within %gs", step.name, step.timeout)
            except Exception:
                logger.exception("shutdown: %s failed", step.name)


class Lifespan:
    """What a host's start sets up, in order, and the steps that undo it at stop.

    Start: the event dispatcher, ``plugyard_startup``, every loaded plugin by its handle's
    order, then ``plugyard_started``. Stop undoes it in reverse: plugins, then
    ``plugyard_shutdown``, then plain hook plugins (after the queued events are delivered),
    supervised processes, and last the event dispatcher.
    """

    def __init__(
        self,
        bus: EventBus,
        dispatcher: Dispatcher,
        control: PluginControl,
        loader: Loader,
        settings: HostSettings,
    ) -> None:
        self.bus = bus
        self.dispatcher = dispatcher
        self.control = control
        self.loader = loader
        self.settings = settings
        self.steps = StepStack()
        self._processes: Supervisor | None = None

    def processes(self, publish: Callable[..., object], python_path: Sequence[Path]) -> Supervisor:
        """The process supervisor, created on first use."""
        if self._processes is None:
            from ._supervisor import Supervisor

            self._processes = Supervisor(publish=publish, python_path=[str(p) for p in python_path])
        return self._processes

    @property
    def supervisor(self) -> Supervisor | None:
        """The process supervisor if one was made, without making one."""
        return self._processes

    async def stop_processes(self) -> None:
        """Stop every supervised process (if a supervisor was ever made)."""
        if self._processes is not None:
            await self._processes.stop_all()

    async def start(self, host: object) -> None:
        """Bring every component up; ``host`` is what the hooks receive."""
        timeout = self.settings.shutdown_timeout
        await self.bus.start()
        self.steps.push("event dispatcher", self.bus.stop, timeout)
        self.steps.push("processes", self.stop_processes, timeout)
        self.steps.push("hook plugins", self._stop_hook_plugins, timeout)
        await self._hook("plugyard_startup", host, self.settings.startup_timeout, fail=True)
        self.steps.push(
            "plugyard_shutdown",
            lambda: self._hook("plugyard_shutdown", host, timeout, fail=False),
            timeout,
        )
        self.steps.push("plugins", self._stop_plugins, timeout * 2)
        for name in self.control.start_order():
            await self.control.start(name)
        await self._hook("plugyard_started", host, self.settings.startup_timeout, fail=True)

    async def stop(self) -> None:
        """Undo every step of :meth:`start`, newest first."""
        await self.steps.unwind()

    async def restart(self, name: str, host: object) -> PluginRecord:
        """Restart a plugin by its handle, or an adapter by its hooks."""
        registry = self.control.registry
        if registry.get(name).model != "adapter":
            return await self.control.restart(name)
        await self.restart_adapter(name, host)
        return registry.get(name)

    async def restart_adapter(self, name: str, host: object) -> None:
        """Run one adapter's ``plugyard_shutdown`` then its ``plugyard_startup`` (to reconnect
        what it holds: a broker, a store); a failure marks the adapter failed, as at start."""
        plugin = self.loader.host.pm.get_plugin(name)
        if plugin is None:
            raise RuntimeError(
                f"adapter {name!r} cannot be restarted: it failed and was unregistered; "
                "fix the cause, then restart the host"
            )
        for hook, timeout in (
            ("plugyard_shutdown", self.settings.shutdown_timeout),
            ("plugyard_startup", self.settings.startup_timeout),
        ):
            impl = getattr(plugin, hook, None)
            if impl is None:
                continue
            try:
                async with asyncio.timeout(timeout):
                    value = impl(host=host)
                    if inspect.isawaitable(value):
                        await value
            except Exception as exc:
                reason = f"{hook}: {type(exc).__name__}: {exc}"
                logger.error("adapter %r: restart failed in %s", name, reason, exc_info=exc)
                self.loader.fail_adapter(name, reason)
                return

    async def _hook(self, hook: str, host: object, timeout: float, *, fail: bool) -> None:
        policy = dataclasses.replace(self.dispatcher.plan(hook).policy, timeout=timeout)
        outcome = await self.dispatcher.acall(hook, {"host": host}, policy)
        if fail:
            for failure in outcome.failures:
                self.loader.fail_adapter(failure.plugin, f"{hook}: {failure.error}")

    async def _stop_plugins(self) -> None:
        await self.control.stop_phase(StopPhase.PLUGINS)

    async def _stop_hook_plugins(self) -> None:
        await self.bus.drain(self.settings.shutdown_timeout / 2)
        await self.control.stop_phase(StopPhase.AFTER_SHUTDOWN)


@contextlib.contextmanager
def stop_signals(stop: asyncio.Event | None) -> Iterator[asyncio.Event]:
    """While inside, SIGINT and SIGTERM set ``stop`` (on the running loop); yields it."""
    if stop is None:
        raise PhaseError("waiting for a stop needs a started host")
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class HostFacts:
    """What a running host tells clients through ``host.json`` in its runtime folder."""

    def __init__(self, folder: Path, name: str, host_id: str, config: Path | None) -> None:
        self.folder = folder
        self.base = {"name": name, "id": host_id, "config": str(config or "")}
        self.advertised: dict[str, Any] = {}
        self.started_at: float | None = None

    def advertise(self, key: str, value: Any, *, write: bool) -> None:
        """Remember a fact; write ``host.json`` again now if ``write``."""
        self.advertised[key] = value
        if write:
            self.write()

    def write(self) -> None:
        """Write ``host.json`` (a failure is logged: clients then find no running host)."""
        import os

        from ._runtime import write_host_info

        info = {**self.base, "pid": os.getpid(), "started_at": self.started_at}
        try:
            write_host_info(self.folder, {**info, **self.advertised})
        except OSError as exc:
            logger.warning("cannot write %s: %s", self.folder / "host.json", exc)

    def remove(self) -> None:
        """Remove ``host.json``: the host is no longer running."""
        (self.folder / "host.json").unlink(missing_ok=True)

"""Subscriber plugins as supervised processes: recognising them and driving each by name."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from plugyard.host import PluginLoadError, PluginState, ProcessSpec, ProcessState, RestartPolicy
from plugyard.sdk import HandleBase
from plugyard.sdk.subscriber import MAX_MESSAGE_SIZE_ENV

from ._settings import ProcessOptions

if TYPE_CHECKING:
    from plugyard.host import ProcessInfo

    from ._service import ZmqService

__all__ = ["CONFIG_ENV", "SubscriberHandle", "flavour_of", "target_of"]

logger = logging.getLogger("plugyard.adapters.zmq.plugins")

CONFIG_ENV = "PLUGYARD_PLUGIN_CONFIG"
_CIRCUS_BASE = "circus.plugins.CircusPlugin"
_RUNNER = "plugyard.adapters.zmq._runner"


class _Refused(RuntimeError):
    """The host refused a subscriber at its handshake."""


_FINAL = (ProcessState.FLAPPING, ProcessState.EXITED, ProcessState.STOPPED)
_LEFT = (*_FINAL, ProcessState.BACKOFF)


def flavour_of(obj: Any) -> str | None:
    """``"plugyard"`` for a SubscriberPlugin class, ``"circus"`` for a CircusPlugin class."""
    if not inspect.isclass(obj):
        return None
    from plugyard.sdk.subscriber import SubscriberPlugin

    if issubclass(obj, SubscriberPlugin) and obj is not SubscriberPlugin:
        return "plugyard"
    names = {f"{base.__module__}.{base.__qualname__}" for base in obj.__mro__[1:]}
    return "circus" if _CIRCUS_BASE in names else None


def target_of(cls: type, where: str) -> str:
    """``module:Class`` for a class a child process can import; refuse one it cannot."""
    module = cls.__module__
    if (
        module == "__main__"
        or module.startswith("plugyard_plugin_")
        or "<locals>" in (cls.__qualname__)
    ):
        raise PluginLoadError(
            f"{where}: {cls.__qualname__} must be importable by name from another process "
            "(define it at the top level of an installed module)"
        )
    return f"{module}:{cls.__qualname__}"


def process_options(defaults: ProcessOptions, raw: Any, where: str) -> ProcessOptions:
    """The plugin's ``process`` table merged over ``[zmq.process]``; errors name the key."""
    from pydantic import ValidationError

    from plugyard.host import ConfigError

    if raw is None:
        return defaults
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: process: expected a table, got {type(raw).__name__}")
    try:
        return ProcessOptions.model_validate({**defaults.model_dump(), **raw})
    except ValidationError as exc:
        item = exc.errors()[0]
        key = ".".join(str(p) for p in item["loc"])
        raise ConfigError(f"{where}: process.{key}: {item['msg']}") from None


class SubscriberHandle(HandleBase):
    """Drives one subscriber plugin's process through the host's supervisor."""

    model = "zmq"
    order = -100

    def __init__(
        self,
        service: ZmqService,
        name: str,
        target: str,
        options: dict[str, Any],
        process: ProcessOptions,
        flavour: str,
    ) -> None:
        self.service = service
        self.name = name
        self.target = target
        self.options = options
        self.process = process
        self.flavour = flavour
        self._ready: asyncio.Future[int] | None = None

    # -- the handle contract --------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the process; for SDK plugins, return once its subscription is live."""
        service = self.service
        if self.flavour == "circus" and service.curve is not None:
            raise RuntimeError("circus plugins cannot connect to CURVE-secured sockets")
        processes = service.host.processes
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future() if self.flavour == "plugyard" else None
        await processes.start(self.spec())
        if self._ready is not None:
            try:
                await self._wait_ready()
            except _Refused:
                # The plugin hears the refusal and exits by itself; it is stopped if not.
                with contextlib.suppress(TimeoutError):
                    await processes.wait(self.name, *_LEFT, timeout=self.process.stop_timeout)
                await processes.stop(self.name)
                raise

    async def stop(self) -> None:
        """Stop the process gracefully (SIGTERM, then SIGKILL after ``stop_timeout``), once the
        events published so far have gone out, so that the plugin can still handle them."""
        processes = self.service.host.processes
        await self.service.host.bus.drain(1.0)
        try:
            processes.get(self.name)
        except KeyError:
            return
        await processes.stop(self.name)

    def describe(self) -> dict[str, Any]:
        """What ``status NAME`` shows: the class, its options and its process."""
        details: dict[str, Any] = {
            "use": self.target,
            "flavour": self.flavour,
            "options": self.options,
            "endpoint": self.service.endpoint,
            "pubsub_endpoint": self.service.pubsub_endpoint,
        }
        try:
            details["process"] = self.service.host.processes.get(self.name).to_dict()
        except KeyError:
            details["process"] = None
        stream = self.service.stream_position(self.name)
        if stream is not None:
            details["events"] = stream
        return details

    # -- process --------------------------------------------------------------------------

    def spec(self) -> ProcessSpec:
        """The command line and supervision settings of this plugin's process."""
        service = self.service
        level = service.plugin_log_level
        if self.flavour == "circus":
            config = ":::".join(f"{k}:{v}" for k, v in self.options.items())
            argv = [
                sys.executable,
                "-c",
                "from circus import plugins;plugins.main()",
                "--endpoint",
                service.endpoint,
                "--pubsub",
                service.pubsub_endpoint,
                "--check-delay",
                str(service.settings.check_delay),
                "--log-level",
                level,
                *(["--config", config] if config else []),
                self.target.replace(":", "."),
            ]
            env = {"PYTHONUNBUFFERED": "1"}
        else:
            argv = [
                sys.executable,
                "-m",
                _RUNNER,
                "--endpoint",
                service.endpoint,
                "--pubsub",
                service.pubsub_endpoint,
                "--check-delay",
                str(service.settings.check_delay),
                "--log-level",
                level,
                "--name",
                self.name,
                self.target,
            ]
            env = {
                "PYTHONUNBUFFERED": "1",
                CONFIG_ENV: json.dumps(self.options, default=str),
                MAX_MESSAGE_SIZE_ENV: str(service.settings.max_message_size),
            }
            if service.key_file is not None:
                env["PLUGYARD_ZMQ_CURVE_KEYS"] = str(service.key_file)
        p = self.process
        return ProcessSpec(
            name=self.name,
            argv=argv,
            env=env,
            restart=RestartPolicy(p.restart),
            backoff_initial=p.backoff_initial,
            backoff_max=p.backoff_max,
            backoff_factor=p.backoff_factor,
            flap_attempts=p.flap_attempts,
            flap_window=p.flap_window,
            stop_timeout=p.stop_timeout,
            log_lines=p.log_lines,
        )

    async def _wait_ready(self) -> None:
        ready = self._ready
        assert ready is not None
        processes = self.service.host.processes
        ended = asyncio.ensure_future(processes.wait(self.name, *_FINAL))
        waiting: set[asyncio.Future[Any]] = {ready, ended}
        try:
            done, _ = await asyncio.wait(
                waiting,
                timeout=self.service.settings.ready_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            ended.cancel()
        if ready in done:
            ready.result()  # raises _Refused if the handshake refused the plugin
            return
        if ended in done and not ended.cancelled():
            info = ended.result()
            tail = " | ".join(processes.logs(self.name)[-3:])
            raise RuntimeError(
                f"its process is {info.state}: {info.reason}"
                + (f"; last output: {tail}" if tail else "")
            )
        logger.warning(
            "plugin %r: no hello within %gs; it runs but may miss the first events",
            self.name,
            self.service.settings.ready_timeout,
            extra={"plugin": self.name},
        )

    def refuse(self, pid: int, reason: str) -> None:
        """The handshake refused our process (its hook spec version): fail the start."""
        try:
            current = self.service.host.processes.get(self.name).pid
        except KeyError:
            return
        if pid == current and self._ready is not None and not self._ready.done():
            self._ready.set_exception(_Refused(f"refused at the handshake: {reason}"))

    def mark_ready(self, pid: int | None) -> bool:
        """The plugin's process says its subscription is live; ``True`` if it is ours."""
        try:
            current = self.service.host.processes.get(self.name).pid
        except KeyError:
            return False
        if pid is None or pid != current:
            return False
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(pid)
        return True

    def on_process_state(self, info: ProcessInfo) -> None:
        """Mirror the supervisor's view in the host's registry and counters."""
        host = self.service.host
        try:
            record = host.registry.get(self.name)
        except KeyError:
            return
        if info.state is ProcessState.RUNNING and (info.reason or "").startswith("restarted after"):
            host.stats[self.name].restarts += 1
        if record.state is not PluginState.STARTED:
            return
        if info.state is ProcessState.FLAPPING:
            host.set_plugin_state(self.name, PluginState.FAILED, f"flapping: {info.reason}")
        elif info.state is ProcessState.EXITED:
            host.set_plugin_state(self.name, PluginState.STOPPED, info.reason)

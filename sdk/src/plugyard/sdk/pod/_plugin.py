"""``PodPlugin``: the base class of pod plugins (Pymemri's ``PluginBase``)."""

from __future__ import annotations

import abc
import inspect
import logging
import threading
import warnings
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._errors import PodError
from ._item import Item, PluginRun
from ._status import RunStatus

if TYPE_CHECKING:
    from ._client import PodClient

__all__ = ["PluginAborted", "PodPlugin", "accepted_config"]

logger = logging.getLogger("plugyard.sdk.pod")


class PluginAborted(Exception):
    """Raised inside a plugin's ``run()`` when an operator aborts its run."""


class PodPlugin(abc.ABC):
    """Base of pod plugins: implement ``run()``; list your item classes in ``schema_classes``.

    Example (Pymemri's ExamplePlugin)::

        class ExamplePlugin(PodPlugin):
            schema_classes = [Dog]

            def __init__(self, dog_name: str = "Bob", **kwargs):
                super().__init__(**kwargs)
                self.dog_name = dog_name

            def run(self):
                self.client.create(Dog(self.dog_name, 10))

    The configuration of a run arrives as keyword arguments of ``__init__``. ``plugin_run`` and
    ``client`` are given by ``plugyard pod run-plugin`` and the launchers; a plugin built
    without a ``plugin_run`` (development) warns and records no status.
    """

    schema_classes: ClassVar[Sequence[type[Item]]] = ()
    """Item classes the plugin writes; :meth:`add_to_schema` registers them before ``run``."""

    daemon: bool = False
    """A daemon plugin keeps running after ``run()`` returns: its run ends ``daemon``."""

    def __init__(
        self,
        plugin_run: PluginRun | None = None,
        *,
        client: PodClient | None = None,
        **config: Any,
    ) -> None:
        if client is None:
            raise ValueError(
                f"{type(self).__name__} needs a client: pass client=PodClient(...) "
                "(plugyard pod run-plugin does this for you)"
            )
        if plugin_run is None:
            warnings.warn(
                f"{type(self).__name__} was created without a plugin_run: fine in development, "
                "but no status or progress is recorded",
                RuntimeWarning,
                stacklevel=2,
            )
        self.client = client
        self.plugin_run = plugin_run
        self.config = dict(config)
        self._aborted = threading.Event()
        self.log = logging.LoggerAdapter(
            logger, {"plugin": type(self).__name__, "run_id": self.run_id}
        )
        self.set_status(RunStatus.INITIALIZED)

    @property
    def run_id(self) -> str | None:
        """The id of this plugin's PluginRun, if it has one."""
        return self.plugin_run.id if self.plugin_run is not None else None

    @property
    def aborted(self) -> bool:
        """Whether the run was aborted; long loops may check it and return early."""
        return self._aborted.is_set()

    def abort(self) -> None:
        """Mark the run as aborted (called by the runner when the pod says so)."""
        self._aborted.set()

    @abc.abstractmethod
    def run(self) -> Awaitable[None] | None:
        """The plugin's work; plain or ``async def``."""

    def add_to_schema(self) -> None:
        """Register :attr:`schema_classes` with the pod (done for you before ``run``)."""
        if self.schema_classes:
            self.client.add_to_schema(*self.schema_classes)

    def set_status(self, status: RunStatus | str, message: str | None = None) -> None:
        """Record a new status on the PluginRun (checked against the transition table)."""
        self._update(status=str(RunStatus(status)), message=message)

    def set_progress(self, fraction: float, message: str | None = None) -> None:
        """Record progress, a fraction from 0 to 1, with an optional message."""
        if isinstance(fraction, bool) or not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"progress must be a fraction from 0 to 1, got {fraction!r}")
        self._update(progress=float(fraction), message=message)

    def _update(self, **changes: Any) -> None:
        if self.plugin_run is None or self.plugin_run.id is None:
            return
        changes = {k: v for k, v in changes.items() if v is not None}
        updated = self.client.update_run(self.plugin_run.id, **changes)
        self.plugin_run = updated

    def _run(self) -> RunStatus:
        """Start, run, and end ``done`` (or ``daemon``): the order every launcher uses."""
        self.set_status(RunStatus.STARTED)
        result = self.run()
        if inspect.isawaitable(result):
            import asyncio

            asyncio.run(_await(result))
        final = RunStatus.DAEMON if self.daemon else RunStatus.DONE
        try:
            self.set_status(final)
        except PodError:
            if self.aborted:
                raise PluginAborted("the run was aborted") from None
            raise
        return final


async def _await(awaitable: Awaitable[None]) -> None:
    await awaitable


def accepted_config(cls: type) -> list[str] | None:
    """Configuration keys ``cls.__init__`` accepts, or ``None`` if it takes any key.

    Walks the ``__init__`` chain while each passes ``**kwargs`` on, stopping at
    :class:`PodPlugin` (whose own ``**config`` is not counted).
    """
    names: list[str] = []
    for klass in cls.__mro__:
        if klass is PodPlugin or klass is object:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]
        passes_on = False
        for param in params:
            if param.kind is param.VAR_KEYWORD:
                passes_on = True
            elif param.kind is not param.VAR_POSITIONAL and param.name not in (
                "plugin_run",
                "client",
            ):
                names.append(param.name)
        if not passes_on:
            return names
    if not issubclass(cls, PodPlugin):
        return None
    return names

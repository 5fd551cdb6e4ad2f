"""``crutches_on_wheels.web.application.LunaApplication``: the ``app`` a LUNA plugin gets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._log import Logger

if TYPE_CHECKING:
    from plugyard.sdk.events import PluginApp

__all__ = ["LunaApplication", "LunaContext", "ServiceConfig"]


class ServiceConfig(Mapping[str, Any]):
    """The plugin's options (its ``[plugins.NAME]`` table), read as keys or attributes."""

    __slots__ = ("_options",)

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = options

    def __getitem__(self, key: str) -> Any:
        return self._options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __getattr__(self, name: str) -> Any:
        options = object.__getattribute__(self, "_options")
        if name in options:
            return options[name]
        raise AttributeError(f"service config has no option {name!r} (options: {sorted(options)})")

    def __repr__(self) -> str:
        return f"ServiceConfig({dict(self._options)!r})"


class LunaContext:
    """``app.ctx``: the plugin's ``logger`` and ``serviceConfig``; plugins may add attributes."""

    def __init__(self, logger: Logger, service_config: ServiceConfig) -> None:
        self.logger = logger
        self.serviceConfig = service_config


class LunaApplication:
    """A LUNA application over plugyard's ``app``: ``addRoutes`` and ``ctx``, and every name
    of plugyard's app (``name``, ``logger``, ``config``, ``state``, ``emit`` ...) besides."""

    def __init__(self, app: PluginApp) -> None:
        self.plugyard_app = app
        logger = app.logger
        stdlib = logger.logger if hasattr(logger, "logger") else logger
        self.ctx = LunaContext(Logger(stdlib, plugin=app.name), ServiceConfig(app.config))

    def addRoutes(self, routes: Iterable[Any]) -> None:
        """Add ``(path, Handler)`` routes: a LUNA ``BaseHandler`` subclass is mounted on the
        host's Starlette app (one instance per request); anything else is a plugyard route."""
        from ._handlers import BaseHandler, handler_route

        specs: list[Any] = []
        for spec in routes:
            if (
                isinstance(spec, tuple | list)
                and len(spec) >= 2
                and isinstance(spec[1], type)
                and issubclass(spec[1], BaseHandler)
            ):
                specs.append(handler_route(str(spec[0]), spec[1], self))
            else:
                specs.append(spec)
        self.plugyard_app.add_routes(specs)

    def add_routes(self, routes: Iterable[Any]) -> None:
        """plugyard's name for :meth:`addRoutes`."""
        self.addRoutes(routes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.plugyard_app, name)

    def __repr__(self) -> str:
        return f"<LUNA application of plugin {self.plugyard_app.name!r}>"

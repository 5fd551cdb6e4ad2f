"""``crutches_on_wheels.plugins.plugins_meta.base_plugins``: LUNA's plugin base classes, as
plugyard event and background plugins.

A LUNA plugin is built with a :class:`LunaApplication` (wrapping plugyard's ``app``), names
its event with ``eventName`` and handles it in ``handleEvent``; the payload reaches it as
LUNA's keyword arguments (camelCase) and LUNA's objects (points, events, logger).
"""

from __future__ import annotations

import abc
import inspect
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from plugyard.sdk.events import BackgroundPlugin, EventPlugin, MonitoringPoint

from ._application import LunaApplication
from ._events import to_luna_event
from ._log import Logger
from ._points import RequestMonitoringPoint

__all__ = ["BaseBackgroundPlugin", "BaseEventPlugin", "BasePlugin", "luna_arguments"]

_SNAKE = re.compile(r"_([a-z0-9])")


def _camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


def _luna_value(key: str, value: Any) -> Any:
    if isinstance(value, MonitoringPoint):
        return RequestMonitoringPoint(value.request_id, value.event_time, value.tags, value.fields)
    if isinstance(value, list):
        if key == "events":
            return [to_luna_event(item) for item in value]
        return [_luna_value(key, item) for item in value]
    return value


def _request_id(payload: Mapping[str, Any]) -> str | None:
    found = payload.get("request_id")
    if isinstance(found, str):
        return found
    points = payload.get("points")
    if isinstance(points, list) and points and isinstance(points[0], MonitoringPoint):
        return points[0].request_id
    return None


def luna_arguments(
    payload: Mapping[str, Any], logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
) -> dict[str, Any]:
    """plugyard's payload as LUNA's ``handleEvent`` arguments: camelCase names, LUNA points
    and events, and LUNA's ``logger`` carrying the request id."""
    arguments = {_camel(key): _luna_value(key, value) for key, value in payload.items()}
    extra = logger.extra if isinstance(logger, logging.LoggerAdapter) else None
    stdlib = logger.logger if isinstance(logger, logging.LoggerAdapter) else logger
    plugin = extra.get("plugin") if extra else None
    name = plugin if isinstance(plugin, str) else None
    arguments["logger"] = Logger(stdlib, _request_id(payload), plugin=name)
    return arguments


class _LunaPluginType(abc.ABCMeta):
    """Builds LUNA plugins with a :class:`LunaApplication`, whatever ``app`` the host gives."""

    def __call__(cls, app: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(app, LunaApplication):
            app = LunaApplication(app)
        return super().__call__(app, *args, **kwargs)


class BasePlugin:
    """What LUNA's plugins share: ``self.app`` (a :class:`LunaApplication`) and async
    ``initialize`` / ``close``."""


class BaseEventPlugin(EventPlugin, BasePlugin, metaclass=_LunaPluginType):
    """A LUNA event plugin: ``eventName`` and ``async def handleEvent(...)``."""

    eventName: ClassVar[str]
    """The event type this plugin handles (``monitoring_event``, ``sending_event`` ...)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("eventName")
        if isinstance(name, str):
            cls.event_name = name

    def __init__(self, app: LunaApplication) -> None:
        super().__init__(app)
        if not inspect.iscoroutinefunction(self.handleEvent):
            raise TypeError(f"{type(self).__qualname__}.handleEvent must be 'async def'")
        signature = inspect.signature(self.handleEvent)
        self._luna_takes_all = any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        )
        self._luna_params = frozenset(signature.parameters)

    @abc.abstractmethod
    async def handleEvent(self, *args: Any, **kwargs: Any) -> None:
        """Handle one event; its payload arrives as LUNA's keyword arguments."""

    async def handle_event(
        self, logger: logging.Logger | logging.LoggerAdapter[logging.Logger], **payload: Any
    ) -> None:
        """plugyard's entry point: translate the payload and call :meth:`handleEvent`."""
        arguments = luna_arguments(payload, logger)
        if not self._luna_takes_all:
            arguments = {k: v for k, v in arguments.items() if k in self._luna_params}
        await self.handleEvent(**arguments)


class BaseBackgroundPlugin(BackgroundPlugin, BasePlugin, metaclass=_LunaPluginType):
    """A LUNA background plugin: ``initialize``, then ``start`` (start the work and return),
    ``close`` at shutdown; routes through ``app.addRoutes``."""

    def __init__(self, app: LunaApplication) -> None:
        super().__init__(app)

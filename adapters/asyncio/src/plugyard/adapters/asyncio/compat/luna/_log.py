"""``crutches_on_wheels.utils.log.Logger``: LUNA's logger, on the plugin's stdlib logger."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["Logger"]


class Logger:
    """The logger LUNA plugins get: ``app.ctx.logger`` and the ``logger`` of every event.

    LUNA code logs whole messages (often f-strings, sometimes not strings at all, such as a
    status code); they go to the plugin's logger with the request id, when there is one, as
    the record's ``request_id``.
    """

    __slots__ = ("_extra", "_logger", "requestId")

    def __init__(
        self,
        template: str | logging.Logger = "luna",
        requestId: str | None = None,
        *,
        plugin: str | None = None,
    ) -> None:
        self._logger = (
            template if isinstance(template, logging.Logger) else logging.getLogger(template)
        )
        self.requestId = requestId
        extra: dict[str, Any] = {}
        if plugin is not None:
            extra["plugin"] = plugin
        if requestId is not None:
            extra["request_id"] = requestId
        self._extra = extra

    @property
    def logger(self) -> logging.Logger:
        """The stdlib logger underneath."""
        return self._logger

    def withRequestId(self, requestId: str | None) -> Logger:
        """The same logger, its records carrying ``requestId``."""
        return Logger(self._logger, requestId, plugin=self._extra.get("plugin"))

    def _log(self, level: int, msg: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            extra = {**self._extra, **kwargs.pop("extra", {})}
            self._logger.log(level, msg, *args, extra=extra, stacklevel=3, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at DEBUG."""
        self._log(logging.DEBUG, msg, args, kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at INFO."""
        self._log(logging.INFO, msg, args, kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at WARNING."""
        self._log(logging.WARNING, msg, args, kwargs)

    warn = warning

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at ERROR."""
        self._log(logging.ERROR, msg, args, kwargs)

    def critical(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at CRITICAL."""
        self._log(logging.CRITICAL, msg, args, kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log ``msg`` at ERROR with the exception being handled."""
        kwargs.setdefault("exc_info", True)
        self._log(logging.ERROR, msg, args, kwargs)

    def __repr__(self) -> str:
        return f"<LUNA Logger {self._logger.name!r} request {self.requestId!r}>"

"""The tea shop's own plugins: a request monitor and an order tally.

Both are ordinary event plugins; the shop's configuration enables them by import path
(``[plugins.request_stats] use = "embedding_app.plugins:RequestStats"``). Each adds one read-only
HTTP route to the host, which the shop serves beside its own.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugyard.sdk.events import BaseRequestMonitoringPlugin, EventPlugin, MonitoringPoint, PluginApp

__all__ = ["OrderTally", "RequestStats"]

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


class RequestStats(BaseRequestMonitoringPlugin):
    """Counts monitored requests by status and keeps the latest points; ``GET /stats/requests``.

    Option ``keep`` (``[plugins.request_stats]``): how many recent points to keep (1000).
    """

    def __init__(self, app: PluginApp) -> None:
        super().__init__(app)
        keep = app.config.get("keep", 1000)
        if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
            raise ValueError(
                f"[plugins.{app.name}] keep: expected a whole number of points >= 1, got {keep!r}"
            )
        self.points: deque[MonitoringPoint] = deque(maxlen=keep)
        self.by_status: Counter[str] = Counter()
        self.total = 0
        app.add_routes([("/stats/requests", self.report, ["GET"])])

    async def flush_point_to_monitoring(
        self, points: list[MonitoringPoint], logger: Logger
    ) -> None:
        """Count and keep the points of one finished request."""
        for point in points:
            self.total += 1
            self.by_status[str(point.tags.get("status"))] += 1
            self.points.append(point)
            logger.debug(
                "%s %s -> %s in %.1f ms",
                point.tags.get("method"),
                point.tags.get("path"),
                point.tags.get("status"),
                point.fields.get("duration", 0.0) * 1000,
            )

    async def report(self, request: Request) -> Response:
        """The counts and the recent points, oldest first."""
        body: dict[str, Any] = {
            "total": self.total,
            "by_status": dict(self.by_status),
            "recent": [asdict(point) for point in self.points],
        }
        return JSONResponse(body)

    async def close(self) -> None:
        """Say how many requests were monitored."""
        self.logger.info("request_stats closed after %d monitored requests", self.total)


class OrderTally(EventPlugin):
    """Tallies the cups ordered per tea from ``order_placed``; ``GET /stats/orders``."""

    event_name = "order_placed"

    def __init__(self, app: PluginApp) -> None:
        super().__init__(app)
        self.orders = 0
        self.cups: Counter[str] = Counter()
        app.add_routes([("/stats/orders", self.report, ["GET"])])

    async def handle_event(
        self, order_id: str, tea: str, cups: int, request_id: str, logger: Logger
    ) -> None:
        """Count one order."""
        self.orders += 1
        self.cups[tea] += cups
        logger.info("order %s: %d x %s (request %s)", order_id, cups, tea, request_id)

    async def report(self, request: Request) -> Response:
        """Orders seen and cups per tea."""
        return JSONResponse({"orders": self.orders, "cups": dict(self.cups)})

"""Request monitoring plugin: sends each request's monitoring point to a bucket service."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from plugyard.sdk.events import BaseRequestMonitoringPlugin, MonitoringPoint, PluginApp

DEFAULT_URL = "http://127.0.0.1:5020/1/buckets"


class RequestMonitoringPlugin(BaseRequestMonitoringPlugin):
    """Posts the tags and fields of a request's first monitoring point to a bucket.

    Options (``[plugins.NAME]``): ``url`` of the bucket service, ``bucket`` name. One
    instance lives for the life of the host.
    """

    def __init__(self, app: PluginApp) -> None:
        super().__init__(app)
        self.url = str(app.config.get("url", DEFAULT_URL))
        self.bucket = str(app.config.get("bucket", "plugin_test_bucket"))
        self.client: httpx.AsyncClient | None = None

    async def initialize(self) -> None:
        """Open a client and create the bucket (an existing bucket is fine)."""
        self.client = httpx.AsyncClient(timeout=5.0)
        response = await self.client.post(self.url, params={"bucket": self.bucket})
        if response.status_code not in (201, 409):
            raise RuntimeError(
                f"failed to create bucket {self.bucket!r}: {response.status_code} {response.text}"
            )

    async def close(self) -> None:
        """Close the client."""
        if self.client is not None:
            await self.client.aclose()

    async def flush_point_to_monitoring(
        self, points: list[MonitoringPoint], logger: logging.Logger | Any
    ) -> None:
        """Send the request's first point."""
        if not points or self.client is None:
            return
        point = points[0]
        logger.debug(
            "got point, request_id: %s, start time: %s", point.request_id, point.event_time
        )
        message = {"tags": point.tags, "fields": point.fields}
        response = await self.client.post(f"{self.url}/{self.bucket}/objects", json=message)
        response.raise_for_status()
        logger.info("monitoring point stored: %s", response.status_code)

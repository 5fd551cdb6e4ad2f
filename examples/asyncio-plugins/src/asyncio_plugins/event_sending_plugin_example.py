"""Event sending plugin: sends the events a request produced to a third-party receiver."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from plugyard.sdk.events import BaseEventSendingPlugin, PluginApp

DEFAULT_URL = "http://127.0.0.1:5020/1/buckets"


class EventSendingPlugin(BaseEventSendingPlugin):
    """Posts each request's events, with its ids and times, to a bucket.

    Options (``[plugins.NAME]``): ``url`` of the receiver, ``bucket`` name.
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

    async def send_events(
        self,
        events: list[dict[str, Any]],
        handler_id: str,
        account_id: str,
        request_id: str,
        create_event_time: str,
        end_event_time: str,
        logger: logging.Logger | Any,
    ) -> None:
        """Post one request's events."""
        logger.debug(
            "got events, request_id: %s, event_create_time: %s, event_end_time: %s",
            request_id,
            create_event_time,
            end_event_time,
        )
        message = {
            "handler_id": handler_id,
            "account_id": account_id,
            "Luna-Request-Id": request_id,
            "events": events,
            "event_create_time": create_event_time,
            "event_end_time": end_event_time,
        }
        assert self.client is not None
        response = await self.client.post(f"{self.url}/{self.bucket}/objects", json=message)
        response.raise_for_status()
        logger.debug("events stored: %s", response.status_code)

"""Background plugin: a route that answers as a teapot, and a kettle that boils in the
background."""

from __future__ import annotations

import asyncio

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from plugyard.sdk.events import BackgroundPlugin, PluginApp


class HandlerExample(HTTPEndpoint):
    """``GET /teapot``."""

    async def get(self, request: Request) -> Response:
        """Refuse to brew coffee."""
        return PlainTextResponse("I am teapot", status_code=418)


class BackgroundPluginExample(BackgroundPlugin):
    """Adds ``/teapot`` and heats water by one degree per ``interval`` seconds (option)."""

    def __init__(self, app: PluginApp) -> None:
        super().__init__(app)
        app.add_routes([("/teapot", HandlerExample)])
        self.task: asyncio.Task[None] | None = None
        self.temperature = 0
        self.interval = float(app.config.get("interval", 1.0))

    async def useful_job(self) -> None:
        """Some useful async work."""
        while True:
            await asyncio.sleep(self.interval)
            self.temperature = min(100, self.temperature + 1)
            if self.temperature < 100:
                self.app.logger.info("I boil water, temperature: %d", self.temperature)
            else:
                self.app.logger.info("boiling water is ready, would you care for a cup of tea?")

    async def start(self) -> None:
        """Start the kettle and return (the host tracks and cancels the task)."""
        self.task = asyncio.create_task(self.useful_job(), name="kettle")

    async def close(self) -> None:
        """Stop the kettle."""
        if self.task is not None:
            self.task.cancel()

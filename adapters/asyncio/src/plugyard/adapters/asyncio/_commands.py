"""The asyncio model's commands: ``events.emit`` and ``events.types``."""

from __future__ import annotations

from typing import Any

from plugyard.sdk import Command, CommandError, Errno, Param

from ._service import AsyncioService

__all__ = ["commands"]


def commands(service: AsyncioService) -> list[Command]:
    """The commands of one host's asyncio service."""

    async def emit(event: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            result = await service.emit_and_wait(event, **(payload or {}))
        except (LookupError, TypeError, RuntimeError) as exc:
            raise CommandError(str(exc), Errno.MESSAGE_ERROR) from None
        return {
            "event_id": result.event_id,
            "outcomes": {
                name: {"status": o.status, "error": o.error} for name, o in result.outcomes.items()
            },
        }

    def types() -> dict[str, Any]:
        return {"events": service.event_types.describe()}

    return [
        Command(
            "events.emit",
            emit,
            "Emit a declared event and wait for its plugins",
            {"event": Param(str, required=True), "payload": Param(dict, default=None)},
            aliases=("emit",),
        ),
        Command(
            "events.types",
            types,
            "Declared event types, their plugins and queue depths",
            aliases=("events",),
        ),
    ]

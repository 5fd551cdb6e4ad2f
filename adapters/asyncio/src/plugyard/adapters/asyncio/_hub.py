"""Declared event types (``AsyncioService.of(host).event_types``), and emitting to the
plugins that handle them."""

from __future__ import annotations

import asyncio
import itertools
import logging
from asyncio.events import _get_running_loop as _running_loop
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._declarations import (
    EventType,
    OverflowPolicy,
    PayloadError,
    QueueFullError,
    unknown_event,
)
from ._mailbox import HandlerOutcome, Mailbox, first_full, offer_all, offer_each

if TYPE_CHECKING:
    from plugyard.host import Host
    from plugyard.sdk import Event

__all__ = ["EmitResult", "EventHub"]

logger = logging.getLogger("plugyard.adapters.asyncio")


@dataclass(frozen=True, slots=True)
class EmitResult:
    """What :meth:`EventHub.emit_and_wait` returns: the event id and each plugin's outcome."""

    event_id: str
    outcomes: Mapping[str, HandlerOutcome] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every subscribed plugin handled the event without error."""
        return all(outcome.ok for outcome in self.outcomes.values())

    def __getitem__(self, plugin: str) -> HandlerOutcome:
        return self.outcomes[plugin]


class EventHub:
    """The application's event types and the plugins subscribed to each.

    ``service.emit`` returns at once (each plugin's queue takes the event);
    ``service.event_types.put`` waits for room under the ``block`` policy; ``service.emit_and_wait``
    also waits until every plugin has handled the event. Emit from the host's event loop (or use
    :meth:`emit_threadsafe`). Every emitted event is also published as the host event
    ``events.<name>`` with the payload serialised, unless its type says ``publish=False``.
    """

    def __init__(self, host: Host) -> None:
        self._host = host
        self._bus = host.bus
        self._types: dict[str, EventType] = {}
        self._boxes: dict[str, tuple[Mailbox, ...]] = {}
        self._drops: dict[tuple[str, str], int] = {}
        self._drop_flush: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self.types: Mapping[str, type] = MappingProxyType({})

    # -- declarations ---------------------------------------------------------------------

    def declare(
        self,
        name: str,
        payload: type,
        *,
        overflow: OverflowPolicy | str = OverflowPolicy.DROP_OLDEST,
        publish: bool = True,
    ) -> EventType:
        """Declare event type ``name`` whose payload is a dataclass or pydantic model.

        The payload's fields are the keyword arguments of the handlers. Declaring a name
        again with another payload type is an error; the same type just updates the policy.
        """
        existing = self._types.get(name)
        if existing is not None and existing.payload is not payload:
            raise ValueError(
                f"event {name!r} is already declared with payload "
                f"{existing.payload.__qualname__}; cannot declare it again with "
                f"{getattr(payload, '__qualname__', payload)!r}"
            )
        declared = EventType(name, payload, overflow, publish=publish)
        self._types[name] = declared
        self.types = MappingProxyType({n: t.payload for n, t in self._types.items()})
        return declared

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __getitem__(self, name: str) -> EventType:
        found = self._types.get(name)
        if found is None:
            raise unknown_event(name, self._types)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._types))

    def __len__(self) -> int:
        return len(self._types)

    def set_overflow(self, name: str, overflow: OverflowPolicy | str) -> None:
        """Change the overflow policy of declared event ``name``."""
        old = self[name]
        self._types[name] = EventType(name, old.payload, overflow, publish=old.publish)

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, event_name: str, box: Mailbox) -> None:
        """Deliver events named ``event_name`` to ``box`` (the name may be declared later)."""
        boxes = self._boxes.get(event_name, ())
        if box not in boxes:
            self._boxes[event_name] = (*boxes, box)

    def unsubscribe(self, event_name: str, box: Mailbox) -> None:
        """Stop delivering ``event_name`` to ``box``."""
        self._boxes[event_name] = tuple(b for b in self._boxes.get(event_name, ()) if b is not box)

    def subscribers(self, event_name: str) -> list[str]:
        """The plugins that receive ``event_name``, in subscription order."""
        return [box.plugin for box in self._boxes.get(event_name, ())]

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the host's loop, for :meth:`emit_threadsafe` and the loop check."""
        self._loop = loop

    # -- emitting ---------------------------------------------------------------------------

    def _prepare(
        self, name: str, payload: Mapping[str, Any]
    ) -> tuple[EventType, dict[str, Any], Any]:
        declared = self._types.get(name)
        if declared is None:
            raise unknown_event(name, self._types)
        loop = self._loop
        if loop is not None:
            try:
                current = asyncio.get_running_loop()
            except RuntimeError:
                current = None
            if current is not loop:
                raise RuntimeError(
                    f"emit {name!r}: called outside the host's event loop; use "
                    "service.event_types.emit_threadsafe(...) from another thread"
                )
        kwargs, instance = declared.validate(payload)
        return declared, kwargs, instance

    def _publish(
        self, declared: EventType, instance: Any, kwargs: Mapping[str, Any] | None = None
    ) -> str:
        if declared.publish:
            event = self._host.publish_event(
                declared.topic, declared.serialise(instance, kwargs), source="asyncio"
            )
            return event.id
        return f"{self._host.id}-e{next(self._ids)}"

    def emit(self, name: str, /, **payload: Any) -> str:
        """Queue event ``name`` for each plugin that handles it; returns the event id at once.

        An undeclared name raises :class:`UnknownEventError`, a payload that does not match
        the type raises :class:`PayloadError`; under the ``block`` policy a full queue raises
        :class:`QueueFullError` (the event then goes nowhere).
        """
        declared = self._types.get(name)
        if declared is None or (self._loop is not None and _running_loop() is not self._loop):
            declared, kwargs, instance = self._prepare(name, payload)  # raises the error
        else:  # the same as _prepare and _publish, inlined: this is the hot path
            kwargs, instance = declared.validate(payload)
        boxes = self._boxes.get(name, ())
        policy = declared.overflow
        if policy is OverflowPolicy.BLOCK:
            full = first_full(boxes)
            if full is not None:
                raise QueueFullError(
                    f"emit {name!r}: plugin {full.plugin!r} has {full.maxsize} events "
                    "queued (policy 'block'); await service.event_types.put(...) or "
                    "service.emit_and_wait(...) to wait for room"
                )
        if declared.publish:
            data = declared.serialise(instance, kwargs)
            event_id = self._bus.publish(declared.topic, data, "asyncio").id
        else:
            event_id = f"{self._host.id}-e{next(self._ids)}"
        offer_each(boxes, (event_id, name, kwargs, None), policy)
        return event_id

    def wanted(self, name: str) -> bool:
        """Whether emitting ``name`` reaches anything: a subscribed plugin or the host's
        event stream (for callers that would rather not build a payload for nobody)."""
        declared = self._types.get(name)
        return declared is not None and (declared.publish or bool(self._boxes.get(name)))

    def emit_payload(self, name: str, payload: Any, /) -> str:
        """Emit ``name`` with a payload instance already of its declared type (not validated
        again); drops instead of raising when a queue under ``block`` is full."""
        declared = self._types.get(name)
        if declared is None:
            raise unknown_event(name, self._types)
        if not isinstance(payload, declared.payload):
            raise TypeError(
                f"emit {name!r}: expected a {declared.payload.__qualname__}, got "
                f"{type(payload).__qualname__}"
            )
        kwargs = {field: getattr(payload, field) for field in declared.fields}
        event_id = self._publish(declared, payload)
        policy = declared.overflow
        if policy is OverflowPolicy.BLOCK:
            policy = OverflowPolicy.DROP_NEW
        offer_each(self._boxes.get(name, ()), (event_id, name, kwargs, None), policy)
        return event_id

    def _emit_unpublished(self, name: str, each: Iterable[dict[str, Any]]) -> bool:
        """Queue events of handler kwargs the adapter built itself (already of the declared
        shape), one event per item of ``each``, for an event type that is not published, as
        :meth:`emit_payload` would, without building payload instances; ``False`` (nothing
        queued, ``each`` untouched) when the type is published."""
        declared = self._types.get(name)
        if declared is None:
            raise unknown_event(name, self._types)
        if declared.publish:
            return False
        policy = declared.overflow
        if policy is OverflowPolicy.BLOCK:
            policy = OverflowPolicy.DROP_NEW
        boxes, prefix = self._boxes.get(name, ()), f"{self._host.id}-e"
        items = [
            (f"{prefix}{n}", name, kwargs, None) for kwargs, n in zip(each, self._ids, strict=False)
        ]
        offer_all(boxes, items, policy)
        return True

    async def _room(self, declared: EventType, boxes: tuple[Mailbox, ...]) -> None:
        if declared.overflow is not OverflowPolicy.BLOCK:
            return
        while (full := first_full(boxes)) is not None:
            await full.wait_for_room()

    async def put(self, name: str, /, **payload: Any) -> str:
        """Like :meth:`emit`, but under the ``block`` policy waits for room instead of raising."""
        declared, kwargs, instance = self._prepare(name, payload)
        boxes = self._boxes.get(name, ())
        await self._room(declared, boxes)
        event_id = self._publish(declared, instance, kwargs)
        offer_each(self._boxes.get(name, ()), (event_id, name, kwargs, None), declared.overflow)
        return event_id

    async def emit_and_wait(self, name: str, /, **payload: Any) -> EmitResult:
        """Emit event ``name`` and wait until every subscribed plugin has handled it.

        Returns each plugin's :class:`HandlerOutcome` (``ok``, ``error``, ``timeout`` or
        ``dropped``); a failing handler never raises here.
        """
        declared, kwargs, instance = self._prepare(name, payload)
        await self._room(declared, self._boxes.get(name, ()))
        boxes = self._boxes.get(name, ())
        event_id = self._publish(declared, instance, kwargs)
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[HandlerOutcome]] = []
        for box in boxes:
            waiter: asyncio.Future[HandlerOutcome] = loop.create_future()
            waiters.append(waiter)
            box.offer((event_id, name, kwargs, waiter), declared.overflow)
        outcomes = await asyncio.gather(*waiters) if waiters else []
        return EmitResult(event_id, {outcome.plugin: outcome for outcome in outcomes})

    def emit_threadsafe(self, name: str, /, **payload: Any) -> None:
        """Emit from another thread: the event is validated and queued on the host's loop."""
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"emit {name!r}: the host is not running")
        loop.call_soon_threadsafe(lambda: self._emit_logged(name, payload))

    def _emit_logged(self, name: str, payload: dict[str, Any]) -> None:
        try:
            self.emit(name, **payload)
        except Exception:
            logger.exception("emit_threadsafe %r failed", name)

    def relay(self, event: Event) -> None:
        """Hand a declared event that began on another host (``events.<name>`` relayed by an
        event bridge) to this host's plugins that handle it. A handler with an ``origin``
        parameter receives the id of the host it came from (``""`` for this host's own)."""
        if not event.origin:
            return
        declared = self._types.get(event.topic.removeprefix("events."))
        if declared is None or declared.topic != event.topic:
            return
        boxes = self._boxes.get(declared.name, ())
        if not boxes:
            return
        try:
            kwargs, _ = declared.validate(event.data)
        except PayloadError as exc:
            logger.error(
                "event %s (id %s) from host %s does not match this host's declaration: %s",
                event.topic,
                event.id,
                event.origin,
                exc,
            )
            return
        policy = declared.overflow
        if policy is OverflowPolicy.BLOCK:
            policy = OverflowPolicy.DROP_NEW
        with_origin = kwargs if "origin" in kwargs else {**kwargs, "origin": event.origin}
        for box in boxes:
            box.offer(
                (event.id, declared.name, with_origin if box.wants_origin else kwargs, None), policy
            )

    # -- reports ---------------------------------------------------------------------------

    def note_drop(self, plugin: str, event_name: str) -> None:
        """Count a drop; drops are published as one host event per plugin and loop turn."""
        key = (plugin, event_name)
        self._drops[key] = self._drops.get(key, 0) + 1
        if self._drop_flush is None and self._loop is not None:
            self._drop_flush = self._loop.call_soon(self._flush_drops)

    def _flush_drops(self) -> None:
        self._drop_flush = None
        drops, self._drops = self._drops, {}
        for (plugin, event_name), count in drops.items():
            declared = self._types.get(event_name)
            self._host.publish_event(
                f"events.{event_name}.dropped",
                {
                    "plugin": plugin,
                    "event": event_name,
                    "policy": str(declared.overflow) if declared else None,
                    "dropped": count,
                    "total": self._host.stats[plugin].drops,
                },
                source="asyncio",
            )

    def note_failure(self, plugin: str, event_name: str, event_id: str, error: str) -> None:
        """Publish a handler failure as ``events.<name>.failed``."""
        self._host.publish_event(
            f"events.{event_name}.failed",
            {"plugin": plugin, "event": event_name, "event_id": event_id, "error": error},
            source="asyncio",
        )

    def describe(self) -> dict[str, Any]:
        """Every declared type with its subscribers and their queue depths."""
        return {
            name: {
                **declared.describe(),
                "plugins": {box.plugin: len(box) for box in self._boxes.get(name, ())},
            }
            for name, declared in self._types.items()
        }

    def close(self) -> None:
        """Flush pending drop reports (called at shutdown)."""
        if self._drop_flush is not None:
            self._drop_flush.cancel()
            self._flush_drops()

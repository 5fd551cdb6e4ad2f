"""``PodClient``: what a plugin uses to read and write items in its pod."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ._errors import BadRequest
from ._item import Account, Item, PluginRun, new_id, schema_of
from ._transport import HttpTransport, Transport

__all__ = ["ENV_RUN_ID", "ENV_SPEC_VERSION", "ENV_TOKEN", "ENV_URL", "PodClient"]

ENV_URL = "PLUGYARD_POD_URL"
ENV_RUN_ID = "PLUGYARD_POD_RUN_ID"
ENV_TOKEN = "PLUGYARD_POD_TOKEN"
ENV_SPEC_VERSION = "PLUGYARD_SPEC_VERSION"
"""The hook spec version of the host that launched the run (the run's handshake)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PodClient:
    """Create, read, search, update and delete items, whatever the transport.

    Example::

        client = PodClient("http://127.0.0.1:8000/pod/v1", token=token)
        client.add_to_schema(Dog)
        client.create(Dog("Alice", 3))
        [alice] = client.search({"type": "Dog", "name": "Alice"})

    ``PodClient(transport=...)`` uses any :class:`Transport`, such as the pod adapter's
    direct (in-process) one.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        transport: Transport | None = None,
        timeout: float = 30.0,
    ) -> None:
        if transport is None:
            if url is None:
                raise ValueError("PodClient needs a pod URL or a transport")
            transport = HttpTransport(url, token, timeout=timeout)
        self.transport = transport
        self._classes: dict[str, type[Item]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PodClient:
        """A client for ``$PLUGYARD_POD_URL`` with ``$PLUGYARD_POD_TOKEN``."""
        env = os.environ if environ is None else environ
        missing = [name for name in (ENV_URL, ENV_TOKEN) if not env.get(name)]
        if missing:
            raise ValueError(f"environment variable {missing[0]} is not set")
        return cls(env[ENV_URL], token=env[ENV_TOKEN])

    def __repr__(self) -> str:
        return f"PodClient({self.transport!r})"

    def close(self) -> None:
        """Release the transport's connections."""
        self.transport.close()

    def __enter__(self) -> PodClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- items ------------------------------------------------------------------------------

    def _item(self, data: Mapping[str, Any]) -> Item:
        item = Item.from_dict(data, self._classes)
        for edge in data.get("_edges", ()):
            target = Item.from_dict(edge["target"], self._classes)
            field = type(item).fields().get(edge["name"])
            if field is None:
                item.__dict__["_extra"].setdefault(edge["name"], []).append(target)
            elif field.many:
                item.__dict__[edge["name"]].append(target)
            else:
                item.__dict__[edge["name"]] = target
        return item

    @staticmethod
    def _plan(items: Iterable[Item]) -> tuple[list[Item], list[dict[str, str]]]:
        """Items to create (new edge targets included) and the edges between them."""
        new: list[Item] = []
        edges: list[dict[str, str]] = []
        queue = list(items)
        seen: set[int] = set()
        has_edges: dict[type, bool] = {}
        index = 0
        while index < len(queue):
            item = queue[index]
            index += 1
            if not isinstance(item, Item):
                raise TypeError(f"expected an Item, got {type(item).__name__}")
            key = id(item)
            if key in seen:
                continue
            seen.add(key)
            state = item.__dict__
            if not state.get("_stored"):
                if state["id"] is None:
                    item.id = new_id()
                new.append(item)
            cls = type(item)
            linked = has_edges.get(cls)
            if linked is None:
                linked = has_edges[cls] = cls._shape().has_edges
            if not linked:
                continue
            for name, target in item.edges():
                if not target.__dict__.get("_stored"):
                    queue.append(target)
                    if target.id is None:
                        target.id = new_id()
                edges.append({"source": str(item.id), "target": str(target.id), "name": name})
        return new, edges

    @staticmethod
    def _stored(items: Iterable[Item]) -> None:
        for item in items:
            item.__dict__["_stored"] = True

    def create(self, item: Item) -> str:
        """Store a new item (and new items its edges point to, with the edges); returns its id."""
        new, edges = self._plan([item])
        if edges or len(new) > 1:
            self.transport.bulk({"create": [i.to_dict() for i in new], "edges": edges})
        elif new:
            self.transport.create([item.to_dict()])
        else:
            raise ValueError(f"{item!r} is already stored; use update()")
        self._stored(new)
        return str(item.id)

    def get(self, item_id: str) -> Item:
        """The item with that id, typed if its class is known, with its edges filled in.

        Raises :class:`~plugyard.sdk.pod.ItemNotFound` (a ``LookupError``) if there is none.
        """
        return self._item(self.transport.get(item_id))

    def search(
        self,
        filters: Mapping[str, Any],
        *,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Item]:
        """Items matching every key of ``filters``, e.g. ``{"type": "Dog", "name": "Alice"}``.

        Oldest first (``newest_first`` reverses that); ``limit`` and ``offset`` pick a page.
        """
        found = self.transport.search(dict(filters), limit, offset, newest_first)
        return [self._item(data) for data in found]

    def search_pages(
        self, filters: Mapping[str, Any], *, page_size: int = 100
    ) -> Iterator[list[Item]]:
        """:meth:`search` a page of ``page_size`` items at a time, oldest first."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive integer, got {page_size!r}")
        offset = 0
        while True:
            page = self.search(filters, limit=page_size, offset=offset)
            if page:
                yield page
            if len(page) < page_size:
                return
            offset += page_size

    def upload_file(self, data: bytes) -> str:
        """Store a file's bytes in the pod; returns their sha256, which names the file."""
        sha256 = hashlib.sha256(data).hexdigest()
        self.transport.upload_file(sha256, bytes(data))
        return sha256

    def get_file(self, sha256: str) -> bytes:
        """The bytes of a stored file (:class:`~plugyard.sdk.pod.ItemNotFound` if none)."""
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise BadRequest(f"file: {sha256!r} is not a sha256 (64 lowercase hex digits)")
        return self.transport.get_file(sha256)

    def update(self, item: Item) -> Item:
        """Write an item's current property values back to the pod."""
        if item.id is None:
            raise ValueError(f"cannot update {item!r}: it has no id (create it first)")
        return self._item(self.transport.update(item.id, item.to_dict()))

    def delete(self, item: Item | str) -> None:
        """Remove an item (by item or id) and every edge touching it."""
        self.transport.delete(item if isinstance(item, str) else str(item.id))

    def create_edge(self, source: Item | str, target: Item | str, name: str) -> None:
        """Link ``source`` to ``target`` under ``name`` (both must be stored already)."""
        self.transport.create_edges(
            [{"source": _id_of(source), "target": _id_of(target), "name": name}]
        )

    def bulk(
        self,
        *,
        create: Sequence[Item] = (),
        update: Sequence[Item] = (),
        delete: Sequence[Item | str] = (),
        edges: Sequence[tuple[Item | str, Item | str, str]] = (),
    ) -> dict[str, Any]:
        """Several writes in one round trip and one transaction: all happen, or none."""
        new, planned = self._plan(create)
        for item in update:
            if item.id is None:
                raise ValueError(f"cannot update {item!r}: it has no id")
        request = {
            "create": [item.to_dict() for item in new],
            "update": [item.to_dict() for item in update],
            "delete": [_id_of(item) for item in delete],
            "edges": planned
            + [{"source": _id_of(s), "target": _id_of(t), "name": n} for s, t, n in edges],
        }
        result = self.transport.bulk(request)
        self._stored(new)
        return result

    def add_to_schema(self, *classes: type[Item]) -> None:
        """Register item classes (and the classes their edges point to) with the pod."""
        schema = schema_of(*classes)
        for name in schema:
            found = next((c for c in classes if c.__name__ == name), Item.class_for(name))
            if found is not None:
                self._classes[name] = found
        self.transport.add_schema(schema)

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, **fields: Any) -> tuple[PluginRun, str]:
        """Create a PluginRun (needs the owner token); returns it and its own token."""
        created = self.transport.create_run(fields)
        return _run(created["run"]), str(created["token"])

    def get_run(self, run_id: str) -> PluginRun:
        """The PluginRun with that id."""
        return _run(self.transport.get_run(run_id))

    def update_run(self, run_id: str, **changes: Any) -> PluginRun:
        """Change a run's ``status``, ``progress``, ``message`` or ``error``/``traceback``."""
        return _run(self.transport.update_run(run_id, changes))

    def get_account(self, run_id: str) -> Account | None:
        """The Account an operator supplied for ``run_id``, if any."""
        data = self.transport.get_account(run_id)
        if data is None:
            return None
        account = Item.from_dict(data, {"Account": Account})
        assert isinstance(account, Account)
        return account


def _id_of(item: Item | str) -> str:
    if isinstance(item, str):
        return item
    if item.id is None:
        raise ValueError(f"{item!r} has no id: store it first")
    return item.id


def _run(data: Mapping[str, Any]) -> PluginRun:
    run = Item.from_dict(data, {"PluginRun": PluginRun})
    assert isinstance(run, PluginRun)
    return run

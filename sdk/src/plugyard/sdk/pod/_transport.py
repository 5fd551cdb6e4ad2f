"""How a :class:`PodClient` reaches a pod: a small interface with two implementations.

:class:`HttpTransport` (here) speaks the pod's HTTP API; the pod adapter provides the direct
transport, which calls the store in the same process. Anything with these methods works,
so a test can hand a client its own fake.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ._errors import PodError, PodUnavailable, error_for_status

__all__ = ["HttpTransport", "Transport"]

JSON = dict[str, Any]

orjson: Any
try:
    import orjson
except ImportError:  # pragma: no cover - the SDK does not require it
    orjson = None

_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only dicts with string keys, lists, tuples, strings, whole
    numbers, booleans, None and finite floats, all of exactly those types: data that
    orjson writes as :func:`json.dumps` would (anything else is left to :mod:`json`)."""
    pending = [value]
    while pending:
        current = pending.pop()
        kind = type(current)
        if kind is dict:
            for key, item in current.items():
                if type(key) is not str:
                    return False
                item_kind = type(item)
                if item_kind in _SCALARS:
                    continue
                if item_kind is float:
                    if not math.isfinite(item):
                        return False
                    continue
                pending.append(item)
        elif kind is list or kind is tuple:
            pending.extend(current)
        elif kind is float:
            if not math.isfinite(current):
                return False
        elif kind not in _SCALARS:
            return False
    return True


def _encode(body: Any) -> bytes:
    """A request body as JSON: by orjson where it writes the same JSON, else :mod:`json`."""
    if orjson is not None and _plain(body):
        try:
            encoded: bytes = orjson.dumps(body)
        except TypeError:
            pass  # a whole number past 64 bits: the standard library writes it
        else:
            return encoded
    return json.dumps(body).encode()


def _loads(data: bytes) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(data)
        except ValueError:
            pass  # let the standard library read what orjson refuses (NaN, huge numbers)
    return json.loads(data)


@runtime_checkable
class Transport(Protocol):
    """The operations a pod offers, as plain data; every method may raise a ``PodError``."""

    def create(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store new items (dicts with ``id`` and ``type``); returns their ids."""

    def get(self, item_id: str) -> JSON:
        """One item, with ``_edges``: a list of ``{"name", "target"}`` (target: an item)."""

    def search(
        self,
        filters: Mapping[str, Any],
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[JSON]:
        """Items whose properties equal every value in ``filters`` (``type`` included).

        Oldest first unless ``newest_first``; ``limit`` and ``offset`` page through them.
        """

    def update(self, item_id: str, properties: Mapping[str, Any]) -> JSON:
        """Change some properties of an item; returns the stored item."""

    def delete(self, item_id: str) -> None:
        """Remove an item and its edges."""

    def create_edges(self, edges: Sequence[Mapping[str, str]]) -> None:
        """Link items: each edge is ``{"source", "target", "name"}``."""

    def bulk(self, request: Mapping[str, Any]) -> JSON:
        """``create``, ``update``, ``delete`` and ``edges`` lists in one transaction."""

    def add_schema(self, schema: Mapping[str, Any]) -> None:
        """Register item types: ``{type: {"properties": {...}, "edges": {...}}}``."""

    def upload_file(self, sha256: str, data: bytes) -> bool:
        """Store a file under the sha256 of its bytes; False if it was stored already."""

    def get_file(self, sha256: str) -> bytes:
        """A stored file's bytes."""

    def create_run(self, run: Mapping[str, Any]) -> JSON:
        """Create a PluginRun (owner only); returns ``{"run": item, "token": str}``."""

    def get_run(self, run_id: str) -> JSON:
        """One PluginRun."""

    def update_run(self, run_id: str, changes: Mapping[str, Any]) -> JSON:
        """Change a run's status (checked against the transition table), progress, message."""

    def get_account(self, run_id: str) -> JSON | None:
        """The Account an operator supplied for a run, or ``None``."""

    def close(self) -> None:
        """Release connections."""


class HttpTransport:
    """The pod's HTTP API over keep-alive connections (one per thread).

    Built on the standard library so that a plugin process starts fast (importing httpx costs
    about 0.3 s, more than the rest of a plugin's start). Pass ``client=`` an ``httpx.Client``
    to send through httpx instead, for example with ``httpx.MockTransport`` in a test.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        client: Any = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"pod URL must be http(s)://HOST[:PORT]/PATH, got {url!r}")
        self.url = url.rstrip("/")
        self._parts = parts
        self._token = token
        self._timeout = timeout
        self._client = client
        self._local = threading.local()
        self._json_headers = {**self._headers(), "Content-Type": "application/json"}

    def __repr__(self) -> str:
        return f"HttpTransport({self.url!r})"

    # -- plumbing -----------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self._parts.hostname or "", self._parts.port, timeout=self._timeout)
            conn.connect()
            # headers and body go out as two writes: without this, Nagle's algorithm and
            # the server's delayed ACK add 40 ms to every request with a body
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request to ``URL + path``; returns the decoded JSON answer."""
        payload = None if body is None else _encode(body)
        status, data = self._send(method, path, payload, "application/json")
        return self._decode(status, data)

    def request_bytes(self, method: str, path: str, body: bytes | None = None) -> bytes:
        """Send raw bytes (or nothing) to ``URL + path``; returns the raw answer."""
        status, data = self._send(method, path, body, "application/octet-stream")
        if status >= 400:
            self._decode(status, data)
        return data

    def _send(
        self, method: str, path: str, payload: bytes | None, content_type: str
    ) -> tuple[int, bytes]:
        headers = (
            self._json_headers
            if content_type == "application/json"
            else {**self._headers(), "Content-Type": content_type}
        )
        if self._client is not None:
            response = self._client.request(
                method, self.url + path, content=payload, headers=headers
            )
            return int(response.status_code), bytes(response.content)
        target = self._parts.path + path
        for attempt in (1, 2):
            conn: http.client.HTTPConnection | None = None
            try:
                conn = self._connection()
                conn.request(method, target, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                if conn is not None:
                    conn.close()
                self._local.conn = None
                if attempt == 1 and isinstance(
                    exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
                ):
                    continue
                raise PodUnavailable(f"cannot reach the pod at {self.url}: {exc}") from None
            return response.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _decode(status: int, data: bytes) -> Any:
        try:
            decoded = _loads(data) if data else None
        except ValueError:
            decoded = None
        if status >= 400:
            message = (
                decoded.get("error")
                if isinstance(decoded, dict)
                else data[:200].decode(errors="replace")
            )
            raise error_for_status(status, str(message or f"HTTP {status}"))
        if data and decoded is None:
            raise PodError(f"the pod answered HTTP {status} with a body that is not JSON")
        return decoded

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- operations -----------------------------------------------------------------------------

    @staticmethod
    def _q(item_id: str) -> str:
        return urllib.parse.quote(item_id, safe="")

    def create(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        if len(items) == 1:
            return [self.request("POST", "/items", items[0])["id"]]
        ids: list[str] = self.request("POST", "/bulk", {"create": list(items)})["created"]
        return ids

    def get(self, item_id: str) -> JSON:
        found: JSON = self.request("GET", f"/items/{self._q(item_id)}")
        return found

    def search(
        self,
        filters: Mapping[str, Any],
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[JSON]:
        body: JSON = {"filters": dict(filters)}
        if limit is not None:
            body["limit"] = limit
        if offset:
            body["offset"] = offset
        if newest_first:
            body["order"] = "desc"
        items: list[JSON] = self.request("POST", "/search", body)["items"]
        return items

    def update(self, item_id: str, properties: Mapping[str, Any]) -> JSON:
        updated: JSON = self.request("PATCH", f"/items/{self._q(item_id)}", dict(properties))
        return updated

    def delete(self, item_id: str) -> None:
        self.request("DELETE", f"/items/{self._q(item_id)}")

    def create_edges(self, edges: Sequence[Mapping[str, str]]) -> None:
        self.request("POST", "/edges", {"edges": list(edges)})

    def bulk(self, request: Mapping[str, Any]) -> JSON:
        result: JSON = self.request("POST", "/bulk", dict(request))
        return result

    def add_schema(self, schema: Mapping[str, Any]) -> None:
        self.request("POST", "/schema", dict(schema))

    def upload_file(self, sha256: str, data: bytes) -> bool:
        answer = json.loads(self.request_bytes("PUT", f"/files/{self._q(sha256)}", data))
        return bool(answer["stored"])

    def get_file(self, sha256: str) -> bytes:
        return self.request_bytes("GET", f"/files/{self._q(sha256)}")

    def create_run(self, run: Mapping[str, Any]) -> JSON:
        created: JSON = self.request("POST", "/runs", dict(run))
        return created

    def get_run(self, run_id: str) -> JSON:
        run: JSON = self.request("GET", f"/runs/{self._q(run_id)}")
        return run

    def update_run(self, run_id: str, changes: Mapping[str, Any]) -> JSON:
        run: JSON = self.request("PATCH", f"/runs/{self._q(run_id)}", dict(changes))
        return run

    def get_account(self, run_id: str) -> JSON | None:
        account: JSON | None = self.request("GET", f"/runs/{self._q(run_id)}/account")["account"]
        return account

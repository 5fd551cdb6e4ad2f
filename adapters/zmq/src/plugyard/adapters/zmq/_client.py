"""A small synchronous client for a running host: find its sockets, call commands, tail events."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zmq

__all__ = ["HostClient", "HostUnavailable", "find_endpoints"]


class HostUnavailable(RuntimeError):
    """No running host could be found or reached; the message says where we looked."""


def find_endpoints(runtime_dir: Path) -> dict[str, Any]:
    """The ``zmq`` facts a running host advertised in ``RUNTIME_DIR/host.json``."""
    from plugyard.host import HostInfoError, read_host_info

    try:
        info = read_host_info(runtime_dir)
    except HostInfoError as exc:
        raise HostUnavailable(str(exc)) from None
    facts = info.get("zmq")
    if not isinstance(facts, dict) or not facts.get("endpoint"):
        raise HostUnavailable(
            f"the host in {runtime_dir} (pid {info.get('pid')}) does not run the zmq adapter"
        )
    return facts


class HostClient:
    """Talk to a host's command and event sockets (DEALER and SUB), with timeouts."""

    def __init__(
        self,
        endpoint: str,
        pubsub_endpoint: str | None = None,
        *,
        curve_keys: dict[str, str] | None = None,
        timeout: float = 5.0,
        max_message_size: int | None = None,
    ) -> None:
        import zmq
        from plugyard.sdk.subscriber import max_message_size as default_limit

        self.max_message_size = max_message_size or default_limit()
        """The largest frame the client's sockets accept (the host's advertised limit)."""
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self.curve_keys = curve_keys
        self.timeout = timeout
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._dealer: zmq.Socket[Any] | None = None
        self._prefix = uuid.uuid4().hex[:16] + "-"
        self._ids = itertools.count(1)
        self._rcvtimeo = -1

    @classmethod
    def from_facts(cls, facts: dict[str, Any], *, timeout: float = 5.0) -> HostClient:
        """A client for what :func:`find_endpoints` returned (CURVE keys included)."""
        from plugyard.sdk.subscriber import load_curve_keys

        keys = load_curve_keys(facts["curve_keys_file"]) if facts.get("curve_keys_file") else None
        limit = facts.get("max_message_size")
        return cls(
            facts["endpoint"],
            facts.get("pubsub_endpoint"),
            curve_keys=keys,
            timeout=timeout,
            max_message_size=limit if isinstance(limit, int) and limit > 0 else None,
        )

    def _secure(self, sock: zmq.Socket[Any]) -> None:
        import zmq

        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_size)
        keys = self.curve_keys
        if keys:
            sock.curve_serverkey = keys["server_key"].encode()
            sock.curve_publickey = keys["public_key"].encode()
            sock.curve_secretkey = keys["secret_key"].encode()

    def _command_socket(self) -> zmq.Socket[Any]:
        import zmq

        if self._dealer is None:
            dealer = self._ctx.socket(zmq.DEALER)
            dealer.linger = 0
            self._secure(dealer)
            dealer.connect(self.endpoint)
            self._dealer = dealer
        return self._dealer

    def call(self, command: str, /, **props: Any) -> dict[str, Any]:
        """Send a command and return the reply (``status`` ``ok`` or ``error``)."""
        msg_id = f"{self._prefix}{next(self._ids)}"
        return self.request({"id": msg_id, "command": command, "properties": props})

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request object as is and wait for the reply with the same ``id``."""
        dealer = self._command_socket()
        dealer.send(json.dumps(message).encode())
        return self._wait(message.get("id"), message.get("command"))

    def cast(self, command: str, /, **props: Any) -> None:
        """Send a command that gets no reply."""
        message = {"command": command, "properties": props, "msg_type": "cast"}
        self._command_socket().send(json.dumps(message).encode())

    def _wait(self, msg_id: Any, command: Any) -> dict[str, Any]:
        import zmq

        dealer = self._command_socket()
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HostUnavailable(
                    f"no reply to {command!r} from the host at {self.endpoint} within "
                    f"{self.timeout:g}s; is it running?"
                )
            wait = int(remaining * 1000) + 1
            if wait != self._rcvtimeo:  # a receive with a time limit: no poll before it
                dealer.rcvtimeo = self._rcvtimeo = wait
            try:
                frames = dealer.recv_multipart()
            except zmq.Again:
                continue
            reply = json.loads(frames[-1])
            if isinstance(reply, dict) and reply.get("id") == msg_id:
                return reply

    def events(
        self, prefix: str = "", *, idle_timeout: float | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(topic, body)`` for each event whose topic starts with ``prefix``."""
        import zmq

        if not self.pubsub_endpoint:
            raise HostUnavailable("no event endpoint known for this host")
        sub = self._ctx.socket(zmq.SUB)
        sub.linger = 0
        self._secure(sub)
        sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        sub.connect(self.pubsub_endpoint)
        try:
            while True:
                if not sub.poll(None if idle_timeout is None else int(idle_timeout * 1000)):
                    return
                frames = sub.recv_multipart()
                if len(frames) != 2:
                    continue
                try:
                    body = json.loads(frames[1])
                except ValueError:
                    body = {"raw": frames[1].decode(errors="replace")}
                yield frames[0].decode(errors="replace"), body
        finally:
            sub.close()

    def close(self) -> None:
        """Close the sockets."""
        if self._dealer is not None:
            self._dealer.close()
            self._dealer = None
        self._ctx.term()

    def __enter__(self) -> HostClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Operations that record what ran, fail in each way, retry, sleep, and touch relationships."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

from plugyard.sdk.lifecycle import (
    NonRecoverableError,
    RecoverableError,
    ctx,
    exception_to_error_cause,
    operation,
)

CALLS: list[tuple[str, str, float]] = []
_lock = threading.Lock()


def _note(name: str) -> None:
    where = ctx.instance.id if ctx.type == "node-instance" else ctx.source.instance.id
    with _lock:
        CALLS.append((where, name, time.monotonic()))


@operation
def record(**kwargs: Any) -> None:
    _note(ctx.operation.name)
    ctx.instance.runtime_properties[ctx.operation.name] = True
    if kwargs:
        ctx.instance.runtime_properties["inputs"] = {k: v for k, v in kwargs.items() if k != "ctx"}
    ctx.logger.info("ran %s", ctx.operation.name)


def plain(message: str = "") -> str:
    """Not decorated, takes no ctx: still runs."""
    _note("plain")
    return message


@operation
async def async_record(**kwargs: Any) -> None:
    await asyncio.sleep(0.01)
    _note("async:" + ctx.operation.name)
    ctx.instance.runtime_properties["async_" + ctx.operation.name] = True


@operation
def fail_nonrecoverable(**kwargs: Any) -> None:
    _note("fail")
    try:
        raise ConnectionRefusedError("nothing listens")
    except ConnectionRefusedError:
        _, exc, tb = sys.exc_info()
        raise NonRecoverableError(
            "Failed to start", causes=[exception_to_error_cause(exc, tb)]
        ) from None


@operation
def fail_plain(**kwargs: Any) -> None:
    _note("fail_plain")
    raise ValueError("plain failure")


@operation
def flaky(succeed_on: int = 2, **kwargs: Any) -> None:
    _note(f"flaky:{ctx.operation.retry_number}")
    if ctx.operation.retry_number < succeed_on:
        raise RecoverableError("not yet", retry_after=0.01)
    ctx.instance.runtime_properties["flaky_done_at"] = ctx.operation.retry_number


@operation
def wait_retry(after: float = 0.3, **kwargs: Any) -> Any:
    _note(f"wait_retry:{ctx.operation.retry_number}")
    if ctx.operation.retry_number == 0:
        return ctx.operation.retry(message="waiting", retry_after=after)
    return None


@operation
def sleep(seconds: float = 0.2, **kwargs: Any) -> None:
    _note("sleep")
    time.sleep(seconds)


@operation
def rel_touch(**kwargs: Any) -> None:
    _note(f"rel:{ctx.operation.name}:{ctx.target.instance.id}")
    side = "source" if ctx.operation.name != "postconfigure" else "post"
    ctx.source.instance.runtime_properties[f"{side}_{ctx.operation.name}"] = ctx.target.instance.id
    ctx.target.instance.runtime_properties[
        f"from_{ctx.source.instance.id}_{ctx.operation.name}"
    ] = True


@operation
def rel_touch_target(**kwargs: Any) -> None:
    _note(f"rel_target:{ctx.operation.name}")
    ctx.target.instance.runtime_properties[f"target_side_{ctx.operation.name}"] = True
    ctx.source.instance.runtime_properties[f"target_side_{ctx.operation.name}"] = True


@operation
def set_ip(**kwargs: Any) -> None:
    _note("set_ip")
    ctx.instance.runtime_properties["ip"] = "10.0.0.7"


@operation
def render(**kwargs: Any) -> None:
    text = ctx.get_resource_and_render("templates/conf.txt", {"hello": "world"})
    ctx.instance.runtime_properties["rendered"] = text


@operation
def escape(path: str = "../secret.txt", **kwargs: Any) -> None:
    ctx.get_resource(path)


@operation
def fail_if_exists(path: str = "", **kwargs: Any) -> None:
    import os

    _note("fail_if_exists")
    if os.path.exists(path):
        raise NonRecoverableError(f"{path} exists")


@operation
def append(path: str = "", **kwargs: Any) -> None:
    """Append '<instance> <operation>' to a file (survives the process)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{ctx.instance.id} {ctx.operation.name}\n")


@operation
def block_once(path: str = "", marker: str = "", **kwargs: Any) -> None:
    """Append, then the first time touch ``marker`` and hang (to be killed)."""
    import os

    append(path)
    if not os.path.exists(marker):
        with open(marker, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
        time.sleep(60)


@operation(resumable=True)
def block_once_resumable(path: str = "", marker: str = "", **kwargs: Any) -> None:
    """:func:`block_once`, marked safe to run again when an execution is resumed."""
    block_once(path, marker)


@operation
def copy_property(name: str = "", **kwargs: Any) -> None:
    """Store node property ``name`` as a runtime property of the same name."""
    ctx.instance.runtime_properties[name] = ctx.node.properties[name]


STORES: list[Any] = []
"""Where ``own_record`` reads the operation's stored record (set by a test)."""


@operation
def own_record(**kwargs: Any) -> None:
    """Note the state stored for this very operation while it runs, and this node's context."""
    stored = {row["key"]: row["state"] for row in STORES[0].get_operations(ctx.execution_id)}
    with _lock:
        CALLS.append((ctx.instance.id, stored.get(f"{ctx.instance.id}:create", "missing"), 0.0))
        NODES.append((ctx.node.id, id(ctx.node)))


NODES: list[tuple[str, int]] = []

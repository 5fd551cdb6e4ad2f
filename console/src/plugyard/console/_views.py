"""What each page shows, gathered through the host's public API only: the registry, the
command plane and what the console saw on the event stream."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from plugyard.sdk import CommandError, Errno

if TYPE_CHECKING:
    from plugyard.host import Host

    from ._service import ConsoleService

__all__ = [
    "MODELS",
    "deployments",
    "plugins",
    "runs",
    "tasks",
]

MODELS = ("lifecycle", "zmq", "asyncio", "celery", "pod")
"""The five plugin models, in the order the pages list them."""
FINAL_TASK = frozenset({"success", "error", "canceled"})
FINAL_RUN = frozenset({"done", "error", "aborted"})
RUN_PREFIX = "pod.run."


class Missing(Exception):
    """The adapter a page needs is not loaded on this host."""


async def command(host: Host, name: str, /, **props: Any) -> dict[str, Any]:
    """Run a command; a command no adapter provides raises :class:`Missing`."""
    try:
        return await host.run_command(name, **props)
    except CommandError as exc:
        if exc.errno == Errno.UNKNOWN_COMMAND:
            raise Missing(name) from None
        raise


def plugins(host: Host, model: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
    """Every plugin record (adapters included), with its restart count; filtered by model
    and state when given."""
    found = []
    for record in host.plugins:
        if model and record.model != model:
            continue
        if state and str(record.state) != state:
            continue
        row = record.to_dict()
        row["restarts"] = host.stats[record.name].restarts
        found.append(row)
    return found


def _fraction(current: Any, total: Any) -> float | None:
    if isinstance(current, int | float) and isinstance(total, int | float) and total > 0:
        return max(0.0, min(1.0, float(current) / float(total)))
    return None


async def tasks(host: Host, console: ConsoleService) -> list[dict[str, Any]]:
    """Tasks seen on the event stream, newest first, with their job status from
    ``tasks.status``: status, progress, runtime, and result or error."""
    rows = []
    now = time.time()
    for task_id, seen in reversed(list(console.tasks.items())):
        row = dict(seen)
        if row.get("status") not in FINAL_TASK:
            try:
                row.update(await command(host, "tasks.status", id=task_id))
            except (Missing, CommandError):
                pass
        first = float(row.get("first_seen") or now)
        final = row.get("status") in FINAL_TASK
        last = float(row.get("updated") or row.get("last_seen") or now)
        row["runtime"] = max(0.0, (last if final else now) - first)
        row["fraction"] = _fraction(row.get("current"), row.get("total"))
        row["final"] = final
        rows.append(row)
    return rows


async def deployments(host: Host, console: ConsoleService) -> list[dict[str, Any]]:
    """Each deployment (``lifecycle.status``) with its node instances
    (``lifecycle.instances``) and its latest executions with their progress
    (``lifecycle.executions``: from storage, so a workflow another process runs shows too)."""
    status = await command(host, "lifecycle.status")
    found = []
    for name, summary in sorted(status.get("deployments", {}).items()):
        try:
            instances = (await command(host, "lifecycle.instances", deployment=name))["instances"]
        except CommandError as exc:
            instances = []
            summary = {**summary, "error": exc.reason}
        executions = (await command(host, "lifecycle.executions", deployment=name))["executions"]
        for row in executions:
            row["fraction"] = _fraction(row["done"], row["total"])
        found.append({**summary, "name": name, "nodes": instances, "executions": executions})
    return found


async def runs(host: Host, console: ConsoleService) -> list[dict[str, Any]]:
    """Pod runs (their registry records, details from ``pod.run``), newest first, with the
    items each one created."""
    found = []
    records = [r for r in host.plugins if r.name.startswith(RUN_PREFIX) and r.model == "pod"]
    for record in reversed(records):
        run_id = record.name[len(RUN_PREFIX) :]
        try:
            run = dict((await command(host, "pod.run", run_id=run_id))["run"])
        except CommandError as exc:
            run = {"id": run_id, "status": "unknown", "error": exc.reason}
        run["plugin"] = record.source
        run["record_state"] = str(record.state)
        run["fraction"] = _fraction(run.get("progress"), 1.0)
        run["final"] = run.get("status") in FINAL_RUN
        run["items"] = dict(sorted(console.items.get(run_id, {}).items()))
        found.append(run)
    return found

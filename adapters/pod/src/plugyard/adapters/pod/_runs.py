"""The run manager: launches PluginRuns and watches them to the end.

Unlike the original pod, which started a container and forgot it, the host keeps every
launched run's handle: it records the exit code, marks a run ``error`` when its process dies
before reaching ``done``, stops runs that pass their timeout, and aborts on request (the
plugin is told through its status and SIGTERM, then stopped).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plugyard.host import owner_mark, owner_state
from plugyard.sdk.pod import TERMINAL, BadRequest, PodError, RunStatus

from ._launchers import Launcher, LaunchRequest, RunHandle
from ._pod import OWNER, Pod

__all__ = ["RunManager"]

logger = logging.getLogger("plugyard.adapters.pod.runs")
_KEEP_LOGS = 100
_WATCHED: set[str] = set()
"""Ids of the runs a run manager of this process watches."""
_UNENDED = ("created", "initialized", "started", "user_action_needed", "ready", "daemon")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(slots=True)
class _Active:
    handle: RunHandle
    task: asyncio.Task[None] | None = None
    reason: str | None = None


class RunManager:
    """Starts runs with a named launcher and follows each to a final status."""

    def __init__(
        self,
        pod: Pod,
        launchers: Mapping[str, Launcher],
        *,
        pod_url: Callable[[], Any],
        default: str = "process",
        timeout: float | None = None,
        abort_grace: float = 5.0,
        on_end: Callable[[str], Awaitable[None]] | None = None,
        memri_api: bool = False,
    ) -> None:
        self.pod = pod
        self._on_end = on_end
        self.memri_api = memri_api
        self.launchers = dict(launchers)
        self.default = default
        self.timeout = timeout
        self.abort_grace = abort_grace
        self._pod_url = pod_url
        self._active: dict[str, _Active] = {}
        self._logs: OrderedDict[str, list[str]] = OrderedDict()

    def _launcher(self, name: str | None) -> Launcher:
        chosen = name or self.default
        launcher = self.launchers.get(chosen)
        if launcher is None:
            raise BadRequest(
                f"unknown launcher {chosen!r} (available: {', '.join(sorted(self.launchers))})"
            )
        return launcher

    async def launch(self, run_id: str, launcher_name: str | None = None) -> None:
        """Start a ``created`` run with a launcher and begin watching it."""
        launcher = self._launcher(launcher_name)
        run = await asyncio.to_thread(self.pod.get_run, OWNER, run_id)
        if run.get("status") != RunStatus.CREATED or run_id in self._active:
            raise BadRequest(f"run {run_id} is {run.get('status')}; only a created run launches")
        url = await self._pod_url()
        memri_url = None
        changes: dict[str, Any] = {"launcher": launcher.name, "launched_by": owner_mark()}
        if self.memri_api:
            from ._http import PREFIX
            from .compat import MEMRI_PREFIX

            memri_url = url.removesuffix(PREFIX) + MEMRI_PREFIX
            if run.get("webserver_port") is None:
                # a Pymemri plugin serves its API on the run's webserverPort, else on 8080,
                # where two runs would collide
                changes["webserver_port"] = _free_port()
        request = LaunchRequest(
            run_id=run_id,
            plugin_module=run["plugin_module"],
            plugin_name=run["plugin_name"],
            pod_url=url,
            token=self.pod.issue_token(run_id),
            memri_url=memri_url,
            python=run.get("python"),
        )
        await asyncio.to_thread(self.pod.update_run, OWNER, run_id, changes)
        try:
            handle = await launcher.start(request)
        except Exception as exc:
            message = exc.message if isinstance(exc, PodError) else f"{type(exc).__name__}: {exc}"
            await self._end(run_id, RunStatus.ERROR, error=f"launch failed: {message}")
            raise
        active = _Active(handle)
        self._active[run_id] = active
        _WATCHED.add(run_id)
        timeout = run.get("timeout") or self.timeout
        active.task = asyncio.create_task(
            self._watch(run_id, active, timeout), name=f"pod-run-{run_id}"
        )
        logger.info(
            "run %s: %s.%s launched (%s)",
            run_id,
            run["plugin_module"],
            run["plugin_name"],
            launcher.name,
            extra={"run_id": run_id},
        )

    def fail_orphaned_runs(self) -> list[str]:
        """Mark ``error`` every launched run that has not ended and whose host process died
        (killed while it ran): nothing would ever end it otherwise. Answers their ids."""
        failed = []
        for status in _UNENDED:
            for run in self.pod.search(OWNER, {"type": "PluginRun", "status": status}):
                owner = run.get("launched_by")
                if run["id"] in _WATCHED or (status == "created" and not owner):
                    continue  # watched here, or never launched
                if owner_state(owner) not in ("gone", "this process") and owner:
                    continue
                error = (
                    f"host died: the host that launched run {run['id']} "
                    f"({owner or 'an older version'}) stopped before the run ended; it was "
                    f"{status}"
                )
                try:
                    self.pod.update_run(OWNER, run["id"], {"status": "error", "error": error})
                except PodError as exc:
                    logger.debug("run %s: not marked failed: %s", run["id"], exc)
                    continue
                logger.warning("run %s: %s", run["id"], error, extra={"run_id": run["id"]})
                failed.append(run["id"])
        return failed

    async def _watch(self, run_id: str, active: _Active, timeout: float | None) -> None:
        try:
            try:
                exit_code = await asyncio.wait_for(active.handle.wait(), timeout)
            except TimeoutError:
                active.reason = f"timed out after {timeout:g}s"
                await self._end(run_id, RunStatus.ERROR, error=f"the run {active.reason}")
                await active.handle.stop(self.abort_grace)
                exit_code = await active.handle.wait()
            # the supervisor forgets an ended child soon: keep its output at once
            self._keep_logs(run_id, active)
            await self._finish(run_id, active, exit_code)
        except Exception:
            logger.exception("run %s: watching failed", run_id, extra={"run_id": run_id})
        finally:
            if run_id not in self._logs:
                self._keep_logs(run_id, active)
            self._active.pop(run_id, None)
            _WATCHED.discard(run_id)
            if self._on_end is not None:
                try:
                    await self._on_end(run_id)
                except Exception:
                    logger.exception("run %s: end callback failed", run_id)

    def _keep_logs(self, run_id: str, active: _Active) -> None:
        self._logs[run_id] = active.handle.logs()
        while len(self._logs) > _KEEP_LOGS:
            self._logs.popitem(last=False)

    async def _finish(self, run_id: str, active: _Active, exit_code: int | None) -> None:
        changes: dict[str, Any] = {"exit_code": exit_code}
        run = await asyncio.to_thread(self.pod.get_run, OWNER, run_id)
        status = run.get("status")
        if status == RunStatus.DAEMON and exit_code == 0:
            # a daemon that stops by itself, cleanly, has done its work
            await self._end(run_id, RunStatus.DONE, exit_code=exit_code)
        elif status not in TERMINAL:
            tail = "\n".join(self._logs.get(run_id, [])[-20:])
            # a launcher that knows why the run never ran (a worker refused its task) says so
            failure = getattr(active.handle, "failure", None)
            await self._end(
                run_id,
                RunStatus.ERROR,
                error=failure
                or f"the plugin exited (code {exit_code}) before reaching done; it was {status}",
                traceback=run.get("traceback") or tail or None,
                exit_code=exit_code,
            )
        else:
            await asyncio.to_thread(self.pod.update_run, OWNER, run_id, changes)
        logger.info(
            "run %s ended %s (exit code %s)",
            run_id,
            (await asyncio.to_thread(self.pod.get_run, OWNER, run_id))["status"],
            exit_code,
            extra={"run_id": run_id},
        )

    async def _end(self, run_id: str, status: RunStatus, **fields: Any) -> None:
        """Move a run to a final status unless it already has one."""
        changes = {"status": status.value, **{k: v for k, v in fields.items() if v is not None}}
        try:
            await asyncio.to_thread(self.pod.update_run, OWNER, run_id, changes)
        except PodError as exc:
            logger.debug("run %s: not marked %s: %s", run_id, status, exc)

    async def abort(self, run_id: str) -> dict[str, Any]:
        """Mark the run ``aborted`` (revoking its token), then stop what runs it."""
        run = await asyncio.to_thread(self.pod.get_run, OWNER, run_id)
        if run.get("status") in TERMINAL:
            raise BadRequest(f"run {run_id} already ended: {run.get('status')}")
        await self._end(run_id, RunStatus.ABORTED, message="aborted by the operator")
        active = self._active.get(run_id)
        if active is not None:
            active.reason = "aborted"
            await active.handle.stop(self.abort_grace)
            if active.task is not None:
                await asyncio.shield(active.task)
        return await asyncio.to_thread(self.pod.get_run, OWNER, run_id)

    async def wait(self, run_id: str) -> None:
        """Wait until a launched run is no longer watched."""
        active = self._active.get(run_id)
        if active is not None and active.task is not None:
            await asyncio.shield(active.task)

    def logs(self, run_id: str) -> list[str]:
        """A run's captured output: live while it runs, kept for the last 100 runs after."""
        if run_id in self._logs:
            return list(self._logs[run_id])
        active = self._active.get(run_id)
        return active.handle.logs() if active is not None else []

    @property
    def active(self) -> list[str]:
        """Ids of runs being watched."""
        return list(self._active)

    async def stop_all(self) -> None:
        """Abort every watched run (host shutdown)."""
        for run_id in list(self._active):
            try:
                await self.abort(run_id)
            except PodError:
                pass

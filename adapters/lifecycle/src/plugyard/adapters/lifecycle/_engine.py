"""The workflow engine: node instances in relationship order (independent ones in parallel),
each instance's steps in lifecycle order, operations retried without holding a worker."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from plugyard.sdk.lifecycle import (
    ErrorCause,
    NodeContext,
    NodeInstanceContext,
    NonRecoverableError,
    OperationContext,
    OperationInfo,
    PluginInfo,
    RelationshipSubject,
    exception_to_error_cause,
)

from ._executors import LocalExecutor, OperationExecutor, ProcessExecutor, executor_for
from ._functions import FunctionError, evaluate
from ._model import INSTALL_STEPS, UNINSTALL_STEPS, NodeSpec, OperationSpec
from ._plan import NodeInstance
from ._remote import OperationInterrupted
from ._runner import OperationCall, _takes_ctx, is_async, is_resumable
from ._scaling import plan_scale, scale_target, subgraph, touching
from .compat import workflow_scope

if TYPE_CHECKING:
    from ._environment import Environment
    from ._journal import Journal

__all__ = ["OperationFailed", "Settings", "Task", "WorkflowFunctionFailed", "WorkflowRun"]

Steps = list[tuple[list["Task"], str | None]]
"""An instance's steps in order: the operations of each (run together) and the state the
instance reaches after them (None: unchanged)."""
Plans = dict[str, tuple[list[str], Callable[[], Steps]]]
"""Per instance: the instances it waits for, and what makes its steps."""

logger = logging.getLogger("plugyard.lifecycle")

QUEUED_PER_THREAD = 128
"""Plain operations per worker thread whose calls may be made and waiting at once: enough
that a burst of ready instances still shares each commit, few enough that their contexts
do not fill the heap."""


@dataclass(frozen=True, slots=True)
class Settings:
    """How a workflow retries and how many operations run at once."""

    task_retries: int
    task_retry_interval: float
    thread_pool_size: int
    executor: str = "local"


@dataclass(frozen=True, slots=True)
class Task:
    """One operation to run on one instance (or one end of a relationship)."""

    key: str
    spec: OperationSpec
    instance: NodeInstance
    short_name: str
    kwargs: dict[str, Any]
    relationship: dict[str, Any] | None = None
    side: str | None = None


class OperationFailed(Exception):
    """An operation failed for good; carries what the workflow reports."""

    def __init__(self, task: Task, error: BaseException, causes: list[ErrorCause]) -> None:
        super().__init__(
            f"{task.instance.id}: {task.short_name} ({task.spec.implementation}) failed: "
            f"{type(error).__name__}: {error}"
        )
        self.task = task
        self.error = error
        self.causes = causes

    @classmethod
    def plain(cls, message: str) -> OperationFailed:
        """A workflow failure that no operation raised."""
        error = NonRecoverableError(message)
        failure = cls.__new__(cls)
        Exception.__init__(failure, message)
        failure.task = None  # type: ignore[assignment]
        failure.error = error
        failure.causes = _causes_of(error)
        return failure


def _causes_of(error: BaseException) -> list[ErrorCause]:
    remote = getattr(error, "_plugyard_causes", None)
    if remote is not None:
        return list(remote)
    own = exception_to_error_cause(error, error.__traceback__)
    return [own, *list(getattr(error, "causes", None) or [])]


class WorkflowFunctionFailed(OperationFailed):
    """A workflow function raised (not one of its operations)."""

    def __init__(self, workflow: str, error: BaseException, causes: list[ErrorCause]) -> None:
        Exception.__init__(self, f"workflow {workflow!r} raised {type(error).__name__}: {error}")
        self.task = None  # type: ignore[assignment]
        self.error = error
        self.causes = causes


class WorkflowRun:
    """One execution of ``install``, ``uninstall``, ``execute_operation`` or a workflow
    function."""

    def __init__(
        self,
        env: Environment,
        execution_id: str,
        workflow: str,
        parameters: dict[str, Any],
        settings: Settings,
        journal: Journal,
        skip: set[str],
        *,
        kind: str | None = None,
        in_flight: set[str] | None = None,
        resumed: bool = False,
    ) -> None:
        self.env = env
        self.in_flight = in_flight or set()
        self.resumed = resumed
        self.kind = kind or workflow
        self.execution_id = execution_id
        self.workflow = workflow
        self.parameters = parameters
        self.settings = settings
        self.journal = journal
        self.skip = skip
        self.instances = {i.id: i for i in env.storage.get_node_instances(env.name)}
        self.counts = {"succeeded": 0, "failed": 0, "retried": 0, "skipped": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: Any = None
        self._submit_lock = threading.Lock()
        self._submitted = 0
        self.executor: OperationExecutor = executor_for(settings.executor)
        self._where: dict[str, dict[str, Any]] = {}
        self._plugins: dict[str, PluginInfo] = {}
        self._room = asyncio.Semaphore(QUEUED_PER_THREAD * settings.thread_pool_size)
        self._nodes: dict[str, NodeContext] = {}

    # -- running ----------------------------------------------------------------------------

    async def run(self, pool: Any) -> None:
        """Run every instance's steps; raises OperationFailed on the first failure."""
        self._loop = asyncio.get_running_loop()
        self._pool = pool
        if self.kind == "heal":
            await self._heal()
        elif self.kind == "scale":
            await self._scale()
        else:
            await self._run_plans(self._plan())

    async def _heal(self) -> None:
        """Uninstall an instance with everything contained in it, then install them again;
        instances related to them unlink and establish those relationships again."""
        chosen = subgraph(self.instances, str(self.parameters["node_instance_id"]))
        links = touching(self.instances, chosen)
        await self._run_plans(self._plan_lifecycle(False, chosen, links))
        await self._run_plans(self._plan_lifecycle(True, chosen, links))

    async def _scale(self) -> None:
        """Add instances (and install them) or remove them (after uninstalling them)."""
        if self.resumed:
            raise OperationFailed.plain(
                "a scale execution cannot be resumed, since it changed the deployment's "
                "instances as it began; check them with `plugyard lifecycle instances` and "
                "run scale again"
            )
        params = self.parameters
        node = scale_target(
            self.env.blueprint,
            str(params["scalable_entity_name"]),
            bool(params.get("scale_compute", False)),
        )
        plan = plan_scale(
            self.env.blueprint, self.instances, node, int(params.get("delta", 1)), self.env.name
        )
        db = self.env.storage.change_node_instances
        loop = asyncio.get_running_loop()
        if plan.added:
            await loop.run_in_executor(
                self.env.db_executor, lambda: db(plan.added, plan.relationships)
            )
            self.instances.update({i.id: i for i in plan.added})
            for source, rels in plan.relationships.items():
                self.instances[source].relationships = rels
            await self._run_plans(self._plan_lifecycle(True, plan.changed, plan.links))
        elif plan.removed:
            await self._run_plans(self._plan_lifecycle(False, plan.changed, plan.links))
            await self.journal.commit()
            await loop.run_in_executor(
                self.env.db_executor,
                lambda: db((), plan.relationships, sorted(plan.removed)),
            )
            for gone in plan.removed:
                self.instances.pop(gone, None)

    async def _run_plans(self, plans: Plans) -> None:
        total = sum(
            1
            for _deps, steps in plans.values()
            for tasks, _state in steps()
            for task in tasks
            if task.key not in self.skip
        )
        self.env.emit(
            f"workflow.{self.env.name}.{self.workflow}.planned",
            {
                "execution_id": self.execution_id,
                "deployment_id": self.env.name,
                "operations": total,
            },
            self.journal,
        )
        try:
            await _run_graph(plans, self._run_instance)
        finally:
            await self.journal.commit()

    async def run_function(
        self, pool: Any, function: Callable[..., Any], parameters: dict[str, Any]
    ) -> None:
        """Run a workflow function in a thread with its :class:`WorkflowContext`."""
        from ._workflow_context import WorkflowContext

        self._loop = asyncio.get_running_loop()
        self._pool = pool
        wctx = WorkflowContext(self, parameters)

        def call() -> Any:
            kwargs = dict(parameters)
            with workflow_scope(wctx, kwargs) as ctx_argument:
                if _takes_ctx(function):
                    kwargs.setdefault("ctx", ctx_argument)
                return function(**kwargs)

        try:
            await asyncio.to_thread(call)
        except OperationFailed:
            raise
        except Exception as error:
            raise WorkflowFunctionFailed(self.workflow, error, _causes_of(error)) from error
        finally:
            await self.journal.commit()

    def submit_operation(
        self, instance: NodeInstance, spec: OperationSpec, name: str, kwargs: dict[str, Any]
    ) -> concurrent.futures.Future[None]:
        """Run an operation for a workflow function (from its thread)."""
        assert self._loop is not None
        with self._submit_lock:
            self._submitted += 1
            key = f"{instance.id}:{spec.name}:wf{self._submitted}"
        task = Task(key, spec, instance, spec.name.rsplit(".", 1)[-1], kwargs)
        return asyncio.run_coroutine_threadsafe(self._run_task(task), self._loop)

    def workflow_event(self, message: str, instance_id: str | None) -> None:
        """Record a workflow function's event (from its thread)."""
        assert self._loop is not None
        data = {
            "deployment_id": self.env.name,
            "execution_id": self.execution_id,
            "workflow_id": self.workflow,
            "node_instance_id": instance_id,
            "message": message,
        }
        topic = f"workflow.{self.env.name}.{self.workflow}.event"
        asyncio.run_coroutine_threadsafe(self._emit(topic, data), self._loop).result()

    async def _emit(self, topic: str, data: dict[str, Any]) -> None:
        self.env.emit(topic, data, self.journal)

    def set_state_threadsafe(self, instance_id: str, state: str) -> None:
        """Set an instance's state (from a workflow function's thread)."""
        assert self._loop is not None

        async def apply() -> None:
            self.journal.state(instance_id, state)
            self.instances[instance_id].state = state

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result()

    def _plan(self) -> Plans:
        if self.kind == "execute_operation":
            return self._plan_execute_operation()
        return self._plan_lifecycle(self.kind == "install")

    def _plan_lifecycle(
        self,
        install: bool,
        chosen: set[str] | None = None,
        links: dict[str, set[str]] | None = None,
    ) -> Plans:
        """Install or uninstall steps of every instance, or of ``chosen`` ones; ``links``
        adds instances outside ``chosen`` that run only the relationship operations towards
        the given targets."""
        links = links or {}
        ids = [iid for iid in self.instances if chosen is None or iid in chosen or iid in links]
        steps_of = INSTALL_STEPS if install else UNINSTALL_STEPS
        deps: dict[str, list[str]] = {iid: [] for iid in ids}
        for iid in ids:
            for rel in self.instances[iid].relationships:
                target = rel["target_instance_id"]
                if target not in deps:
                    continue
                if install:
                    deps[iid].append(target)
                else:
                    deps[target].append(iid)
        plans: Plans = {}
        for iid in ids:
            only = links.get(iid) if chosen is not None and iid not in chosen else None
            plans[iid] = (deps[iid], partial(self._lifecycle_steps, iid, steps_of, only))
        return plans

    def _lifecycle_steps(
        self, instance_id: str, steps_of: Sequence[tuple[str, str | None]], only: set[str] | None
    ) -> Steps:
        """An instance's steps (made when it starts, so a large plan stays small)."""
        instance = self.instances[instance_id]
        node = self.env.blueprint.nodes[instance.node_id]
        return [
            (self._step_tasks(instance, node, step, only), None if only else state)
            for step, state in steps_of
            if only is None or step.startswith("rel:")
        ]

    def _plan_execute_operation(
        self,
    ) -> Plans:
        params = self.parameters
        name = str(params["operation"])
        node_ids = set(params.get("node_ids") or [])
        instance_ids = set(params.get("node_instance_ids") or [])
        type_names = set(params.get("type_names") or [])
        extra = dict(params.get("operation_kwargs") or {})
        plans: Plans = {}
        for iid, instance in self.instances.items():
            if node_ids and instance.node_id not in node_ids:
                continue
            if instance_ids and iid not in instance_ids:
                continue
            node = self.env.blueprint.nodes[instance.node_id]
            if type_names and not type_names & set(node.type_hierarchy):
                continue
            spec = node.find_operation(name)
            if spec is None:
                continue
            task = Task(f"{iid}:{spec.name}", spec, instance, spec.name, extra)
            plans[iid] = ([], partial(list, [([task], None)]))
        return plans

    def _step_tasks(
        self, instance: NodeInstance, node: NodeSpec, step: str, only: set[str] | None = None
    ) -> list[Task]:
        if not step.startswith("rel:"):
            spec = node.operations.get(f"lifecycle.{step}")
            if spec is None:
                return []
            return [Task(f"{instance.id}:{step}", spec, instance, step, {})]
        op = step[4:]
        tasks = []
        for index, rel in enumerate(instance.relationships):
            rspec = node.relationships[_rel_index(node, rel)]
            target = self.instances.get(rel["target_instance_id"])
            if target is None or (only is not None and target.id not in only):
                continue
            key = f"{instance.id}:rel{index}:{target.id}:{op}"
            for side, ops in (
                ("source", rspec.source_operations),
                ("target", rspec.target_operations),
            ):
                spec = ops.get(f"relationship_lifecycle.{op}")
                if spec is not None:
                    tasks.append(Task(f"{key}:{side}", spec, instance, op, {}, rel, side))
        return tasks

    async def _run_instance(self, instance_id: str, steps: Steps) -> None:
        for tasks, state in steps:
            if len(tasks) == 1:
                await self._run_task(tasks[0])
            elif tasks:
                left = [len(tasks)]
                await _gather_or_cancel(
                    [self._run_then_set(t, left, instance_id, state) for t in tasks]
                )
                continue
            if state is not None:
                self._set_state(instance_id, state)

    async def _run_then_set(
        self, task: Task, left: list[int], instance_id: str, state: str | None
    ) -> None:
        await self._run_task(task)
        left[0] -= 1
        if left[0] == 0 and state is not None:
            self._set_state(instance_id, state)

    def _set_state(self, instance_id: str, state: str) -> None:
        # Called with no await since the step's last operation recorded its success, so the
        # new state is stored in the same transaction as that success: a kill can never leave
        # an instance's state behind its operation records.
        self.journal.state(instance_id, state)
        self.instances[instance_id].state = state

    async def _run_task(self, task: Task) -> None:
        if task.key in self.skip:
            self.counts["skipped"] += 1
            return
        spec = task.spec
        resumable = is_resumable(spec.function)
        if task.key in self.in_flight and not resumable:
            self.counts["failed"] += 1
            error = NonRecoverableError(
                f"{task.instance.id}: operation {task.short_name} ({spec.implementation}) was "
                f"running when execution {self.execution_id} was interrupted and is not marked "
                "resumable, so it was not run again. Check what it left behind, then resume "
                "with --reset-operations (reset_operations=True) to run it again, or mark it "
                "@operation(resumable=True) if running it twice is safe."
            )
            raise OperationFailed(task, error, _causes_of(error))
        settings = self.settings
        max_retries = spec.max_retries if spec.max_retries is not None else settings.task_retries
        interval = (
            spec.retry_interval if spec.retry_interval is not None else settings.task_retry_interval
        )
        retry_number = 0
        while True:
            self._record(task, "started", retry_number)
            # One commit per attempt, before it runs: a resume must know what was in flight,
            # and the same commit stores what succeeded before it on this path.
            await self.journal.commit()
            started = time.perf_counter()
            try:
                await self._invoke(task, retry_number, max_retries)
            except OperationInterrupted as interrupted:
                error = NonRecoverableError(
                    f"{task.instance.id}: operation {task.short_name} ({spec.implementation}) "
                    f"was interrupted: {interrupted}. It is not marked resumable, so it was not "
                    "run again. Check what it left behind, then resume the execution with "
                    "--reset-operations to run it again."
                )
                causes = _causes_of(error)
                self._record(task, "interrupted", retry_number, error, causes, started)
                self.counts["failed"] += 1
                await self.journal.commit()
                raise OperationFailed(task, error, causes) from interrupted
            except Exception as error:
                exhausted = max_retries != -1 and retry_number >= max_retries
                if isinstance(error, NonRecoverableError) or exhausted:
                    causes = _causes_of(error)
                    self._record(task, "failed", retry_number, error, causes, started)
                    self.counts["failed"] += 1
                    await self.journal.commit()
                    raise OperationFailed(task, error, causes) from error
                delay = getattr(error, "retry_after", None)
                delay = interval if delay is None else float(delay)
                self._record(
                    task,
                    "retrying",
                    retry_number,
                    error,
                    _causes_of(error),
                    started,
                    retry_after=delay,
                )
                self.counts["retried"] += 1
                await asyncio.sleep(delay)
                retry_number += 1
                continue
            self._record(task, "succeeded", retry_number, elapsed_from=started)
            self.counts["succeeded"] += 1
            self.journal.flush_soon()
            return

    async def _invoke(self, task: Task, retry_number: int, max_retries: int) -> None:
        executor = self.executor
        decl = self.env.blueprint.plugins.get(task.spec.plugin)
        if decl is not None and decl.isolated:
            loop = asyncio.get_running_loop()
            python = await loop.run_in_executor(None, self.env.plugin_python, decl)
            executor = ProcessExecutor(python)
        if isinstance(executor, LocalExecutor) and not is_async(task.spec.function):
            # A plain operation's context is made once there is room on the threads, so a
            # burst of thousands of ready operations does not hold thousands of contexts.
            async with self._room:
                call = self._call(task, retry_number, max_retries)
                await executor.invoke(self, task, call)
        else:
            call = self._call(task, retry_number, max_retries)
            await executor.invoke(self, task, call)
        retry = call.ctx.operation.requested_retry
        if retry is not None:
            raise retry

    def note_outcome(self, task: Task, outcome: dict[str, Any]) -> None:
        """Remember where an attempt ran (pid, host, worker) for its next event."""
        keys = ("pid", "hostname", "worker", "killed")
        where: dict[str, Any] = {k: outcome[k] for k in keys if k in outcome}
        if where:
            self._where[task.key] = where

    async def _run_async(self, call: OperationCall) -> None:
        try:
            await call.arun()
        finally:
            if any(i.dirty for i in call.ctx.instances()):
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self.env.db_executor, call.ctx.save)

    # -- context ----------------------------------------------------------------------------

    def _call(self, task: Task, retry_number: int, max_retries: int) -> OperationCall:
        env, spec = self.env, task.spec
        operation = OperationInfo(
            task.short_name,
            retry_number,
            max_retries,
            relationship=task.relationship["type"] if task.relationship else None,
        )
        instance = task.instance
        if task.relationship is not None:
            target = self.instances[task.relationship["target_instance_id"]]
            ctx = OperationContext(
                source=RelationshipSubject(self._node(instance), self._instance(instance)),
                target=RelationshipSubject(self._node(target), self._instance(target)),
                backend=env.backend,
                operation=operation,
                deployment_id=env.name,
                blueprint_id=env.blueprint.id,
                execution_id=self.execution_id,
                workflow_id=self.workflow,
                plugin=self._plugin(spec.plugin),
                task_name=spec.implementation,
            )
            on = target.id if task.side == "target" else instance.id
        else:
            ctx = OperationContext(
                node=self._node(instance),
                instance=self._instance(instance),
                backend=env.backend,
                operation=operation,
                deployment_id=env.name,
                blueprint_id=env.blueprint.id,
                execution_id=self.execution_id,
                workflow_id=self.workflow,
                plugin=self._plugin(spec.plugin),
                task_name=spec.implementation,
            )
            on = instance.id
        kwargs = self._inputs(task)
        if task.kwargs:
            kwargs.update(copy.deepcopy(task.kwargs))
        return OperationCall(
            deployment_id=env.name,
            execution_id=self.execution_id,
            workflow_id=self.workflow,
            instance_id=on,
            operation=task.short_name,
            implementation=spec.implementation,
            plugin=spec.plugin,
            retry_number=retry_number,
            ctx=ctx,
            kwargs=kwargs,
            function=spec.function,
            loop=self._loop,
            resumed=self.resumed,
        )

    def _plugin(self, name: str) -> PluginInfo:
        """The plugin's details, made once per execution."""
        plugin = self._plugins.get(name)
        if plugin is None:
            env = self.env
            decl = env.blueprint.plugins[name]
            plugin = self._plugins[name] = PluginInfo(
                name,
                decl.package_name,
                decl.package_version,
                workdir=lambda: env.backend.workdir(name),
                prefix=sys.prefix,
            )
        return plugin

    def _node(self, instance: NodeInstance) -> NodeContext:
        """The node's context: made once per execution, unless its properties read secrets
        (those are read again for every operation)."""
        found = self._nodes.get(instance.node_id)
        if found is not None:
            return found
        node = self.env.blueprint.nodes[instance.node_id]
        context = NodeContext(
            node.id,
            self.env.node_properties(node.id),
            node.type,
            list(node.type_hierarchy),
            node.deploy,
        )
        if not self.env.reads_secrets(node.id):
            self._nodes[node.id] = context
        return context

    def _instance(self, instance: NodeInstance) -> NodeInstanceContext:
        return NodeInstanceContext(
            instance.id,
            self.env.backend,
            index=instance.index,
            relationships=instance.relationships,
        )

    def _inputs(self, task: Task) -> dict[str, Any]:
        if not task.spec.inputs:
            return {}
        functions = self.env.runtime_functions(task.instance, task.relationship)
        try:
            value = evaluate(
                copy.deepcopy(task.spec.inputs), functions, f"{task.spec.where}.inputs", late=True
            )
        except FunctionError as exc:
            raise NonRecoverableError(f"{exc.where}: {exc.message}") from None
        return dict(value)

    # -- events -----------------------------------------------------------------------------

    def _record(
        self,
        task: Task,
        state: str,
        retry_number: int,
        error: BaseException | None = None,
        causes: list[ErrorCause] | None = None,
        elapsed_from: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        instance = task.instance
        failure: dict[str, Any] | None = None
        if error is not None:
            failure = {"type": type(error).__name__, "message": str(error), "causes": causes or []}
        now = time.time()
        self.journal.operation(
            task.key, instance.id, task.short_name, state, retry_number, now, failure
        )
        data: dict[str, Any] = {
            "deployment_id": self.env.name,
            "execution_id": self.execution_id,
            "workflow_id": self.workflow,
            "node_instance_id": instance.id,
            "node_id": instance.node_id,
            "operation": task.short_name,
            "implementation": task.spec.implementation,
            "state": state,
            "retry_number": retry_number,
        }
        if task.relationship is not None:
            data["target_instance_id"] = task.relationship["target_instance_id"]
            data["side"] = task.side
        if elapsed_from is not None:
            data["duration"] = round(time.perf_counter() - elapsed_from, 6)
        if failure is not None:
            data["error"] = failure
        if retry_after is not None:
            data["retry_after"] = retry_after
        if state != "started" and self._where:
            where = self._where.pop(task.key, None)
            if where is not None:
                data["ran_on"] = where
        self.env.emit(
            f"operation.{self.env.name}.{instance.id}.{task.short_name}.{state}",
            data,
            self.journal,
            now,
        )


def _rel_index(node: NodeSpec, rel: dict[str, Any]) -> int:
    for i, spec in enumerate(node.relationships):
        if spec.target == rel["target_id"] and spec.type == rel["type"]:
            return i
    raise KeyError(f"{node.id}: no relationship {rel['type']} to {rel['target_id']}")


async def _gather_or_cancel(coros: Iterable[Awaitable[Any]]) -> None:
    tasks = [asyncio.ensure_future(c) for c in coros]
    await _first_failure(tasks)


async def _run_graph(plans: Plans, run: Callable[[str, Steps], Coroutine[Any, Any, None]]) -> None:
    """Run every instance once all its dependencies have finished, each in a task of its
    own started only then; on the first failure cancel the running ones and raise it."""
    if not plans:
        return
    loop = asyncio.get_running_loop()
    waiting = {iid: len(deps) for iid, (deps, _steps) in plans.items()}
    dependents: dict[str, list[str]] = {}
    for iid, (deps, _steps) in plans.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(iid)
    finished: asyncio.Future[None] = loop.create_future()
    running: set[asyncio.Task[None]] = set()
    left = len(plans)

    def launch(iid: str) -> None:
        task = loop.create_task(run(iid, plans[iid][1]()))
        running.add(task)
        task.add_done_callback(partial(ended, iid))

    def ended(iid: str, task: asyncio.Task[None]) -> None:
        nonlocal left
        running.discard(task)
        cancelled = task.cancelled()
        error = None if cancelled else task.exception()
        if finished.done():
            return
        if cancelled:
            finished.cancel()
            return
        if error is not None:
            finished.set_exception(error)
            return
        left -= 1
        for dependent in dependents.get(iid, ()):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                launch(dependent)
        if left == 0:
            finished.set_result(None)

    for iid, count in waiting.items():
        if count == 0:
            launch(iid)
    try:
        await finished
    finally:
        if running:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)


async def _first_failure(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for all tasks; on the first failure cancel the rest and raise it."""
    if not tasks:
        return
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    failed = [t for t in done if not t.cancelled() and t.exception() is not None]
    if failed:
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        raise failed[0].exception()  # type: ignore[misc]

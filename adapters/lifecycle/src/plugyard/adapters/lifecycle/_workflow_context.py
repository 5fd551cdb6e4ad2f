"""The context a workflow function gets: the deployment's nodes and instances, operations to
run on them (one by one, or as a task graph), events and parameters.

The names follow Cloudify's workflow context, so that a workflow function written for it
reads the same here::

    def touch_all(ctx, operation, **kwargs):
        graph = ctx.graph_mode()
        for node in ctx.nodes:
            for instance in node.instances:
                graph.sequence().add(
                    instance.send_event(f"running {operation}"),
                    instance.execute_operation(operation),
                )
        graph.execute()
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from plugyard.sdk.lifecycle import NonRecoverableError

from ._imports import did_you_mean
from ._model import LIFECYCLE_OPERATIONS, RELATIONSHIP_OPERATIONS

if TYPE_CHECKING:
    from ._engine import WorkflowRun
    from ._model import NodeSpec
    from ._plan import NodeInstance

__all__ = ["TaskGraph", "WorkflowContext", "WorkflowNode", "WorkflowNodeInstance", "WorkflowTask"]

WORKFLOW_LOGGER = "plugyard.lifecycle.ops.workflow"
_STANDARD_OPS = {
    *(f"cloudify.interfaces.lifecycle.{op}" for op in LIFECYCLE_OPERATIONS),
    *(f"lifecycle.{op}" for op in LIFECYCLE_OPERATIONS),
    *LIFECYCLE_OPERATIONS,
    *RELATIONSHIP_OPERATIONS,
}


class WorkflowTask:
    """One step of a workflow: an operation or a local function; ``get()`` waits for it."""

    def __init__(self, name: str, start: Callable[[], concurrent.futures.Future[Any]]) -> None:
        self.id = uuid.uuid4().hex
        self.name = name
        self._start = start
        self._future: concurrent.futures.Future[Any] | None = None
        self._lock = threading.Lock()

    def apply_async(self) -> WorkflowTask:
        """Start the task (once); returns itself."""
        with self._lock:
            if self._future is None:
                self._future = self._start()
        return self

    @property
    def future(self) -> concurrent.futures.Future[Any]:
        """The started task's future."""
        return self.apply_async()._future  # type: ignore[return-value]

    @property
    def async_result(self) -> WorkflowTask:
        """Cloudify's name for the waitable result: the task itself."""
        return self

    def get(self, timeout: float | None = None) -> Any:
        """Wait for the task; its result, or its error raised."""
        return self.future.result(timeout)

    @property
    def is_terminated(self) -> bool:
        """Whether the task has ended (succeeded or failed)."""
        return self._future is not None and self._future.done()

    @property
    def state(self) -> str:
        """``pending``, ``sent``, ``succeeded`` or ``failed``."""
        if self._future is None:
            return "pending"
        if not self._future.done():
            return "sent"
        return "failed" if self._future.exception() is not None else "succeeded"

    def __repr__(self) -> str:
        return f"<WorkflowTask {self.name!r} {self.state}>"


def _done(value: Any = None) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_result(value)
    return future


class TaskSequence:
    """Tasks that run one after the other (each waits for the previous)."""

    def __init__(self, graph: TaskGraph) -> None:
        self.graph = graph
        self.last: WorkflowTask | None = None

    def add(self, *tasks: WorkflowTask) -> None:
        """Append tasks to the sequence."""
        for task in tasks:
            self.graph.add_task(task)
            if self.last is not None:
                self.graph.add_dependency(task, self.last)
            self.last = task


class TaskGraph:
    """Tasks with dependencies; ``execute()`` runs each as soon as what it depends on
    succeeded, and raises the first failure after the running tasks end."""

    def __init__(self) -> None:
        self.tasks: dict[str, WorkflowTask] = {}
        self.depends: dict[str, set[str]] = {}

    def add_task(self, task: WorkflowTask) -> WorkflowTask:
        """Add a task (adding it twice is harmless)."""
        self.tasks.setdefault(task.id, task)
        self.depends.setdefault(task.id, set())
        return task

    def remove_task(self, task: WorkflowTask) -> None:
        """Drop a task and every dependency on it."""
        self.tasks.pop(task.id, None)
        self.depends.pop(task.id, None)
        for deps in self.depends.values():
            deps.discard(task.id)

    def add_dependency(self, source: WorkflowTask, target: WorkflowTask) -> None:
        """Make ``source`` wait for ``target``."""
        self.add_task(source)
        self.add_task(target)
        self.depends[source.id].add(target.id)

    def sequence(self) -> TaskSequence:
        """A new sequence of tasks in this graph."""
        return TaskSequence(self)

    def execute(self) -> None:
        """Run every task in dependency order; raise the first failure."""
        waiting = dict(self.depends)
        running: dict[concurrent.futures.Future[Any], str] = {}
        finished: set[str] = set()
        failure: BaseException | None = None
        while waiting or running:
            if failure is None:
                for task_id in [t for t, deps in waiting.items() if deps <= finished]:
                    del waiting[task_id]
                    running[self.tasks[task_id].future] = task_id
            if not running:
                if failure is None and waiting:
                    raise NonRecoverableError(
                        f"task graph cannot proceed: {len(waiting)} tasks wait on each other"
                    )
                break
            done, _ = concurrent.futures.wait(
                list(running), return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                task_id = running.pop(future)
                error = future.exception()
                if error is not None and failure is None:
                    failure = error
                finished.add(task_id)
        if failure is not None:
            raise failure


class _Deployment:
    __slots__ = ("id",)

    def __init__(self, deployment_id: str) -> None:
        self.id = deployment_id


class WorkflowNode:
    """A node template as a workflow sees it."""

    def __init__(self, ctx: WorkflowContext, spec: NodeSpec) -> None:
        self._ctx = ctx
        self._spec = spec

    @property
    def id(self) -> str:
        """The node's name."""
        return self._spec.id

    @property
    def name(self) -> str:
        """The node's name."""
        return self._spec.id

    @property
    def type(self) -> str:
        """The node's type."""
        return self._spec.type

    @property
    def type_hierarchy(self) -> list[str]:
        """The node's type and its ancestors, root first."""
        return list(self._spec.type_hierarchy)

    @property
    def properties(self) -> dict[str, Any]:
        """The node's properties."""
        return dict(self._spec.properties)

    @property
    def number_of_instances(self) -> int:
        """How many instances the node has."""
        return len(self.instances)

    @property
    def instances(self) -> list[WorkflowNodeInstance]:
        """The node's instances."""
        return [i for i in self._ctx.node_instances if i.node_id == self.id]

    def has_operation(self, operation: str) -> bool:
        """Whether the node maps ``operation``."""
        return self._spec.find_operation(operation) is not None

    def __repr__(self) -> str:
        return f"<WorkflowNode {self.id!r}>"


class WorkflowNodeInstance:
    """A node instance as a workflow sees it: run its operations, send events about it."""

    def __init__(self, ctx: WorkflowContext, instance: NodeInstance) -> None:
        self._ctx = ctx
        self._instance = instance

    @property
    def id(self) -> str:
        """The instance id."""
        return self._instance.id

    @property
    def node_id(self) -> str:
        """The id of the instance's node."""
        return self._instance.node_id

    @property
    def node(self) -> WorkflowNode:
        """The instance's node."""
        return self._ctx.get_node(self.node_id)

    @property
    def index(self) -> int:
        """The instance's index among its node's instances."""
        return self._instance.index

    @property
    def host_id(self) -> str | None:
        """The instance this one is contained in."""
        return self._instance.host_id

    @property
    def relationships(self) -> list[dict[str, Any]]:
        """The instance's relationships (type, target node and target instance)."""
        return [dict(r) for r in self._instance.relationships]

    def execute_operation(
        self,
        operation: str,
        kwargs: dict[str, Any] | None = None,
        allow_kwargs_override: bool = False,
        send_task_events: bool = True,
        **_: Any,
    ) -> WorkflowTask:
        """A task that runs ``operation`` on this instance with ``kwargs`` added to its
        inputs (started now, or when the graph runs in graph mode)."""
        return self._ctx._operation_task(self, operation, dict(kwargs or {}), allow_kwargs_override)

    def send_event(self, event: str, additional_context: dict[str, Any] | None = None) -> Any:
        """A task that records ``event`` about this instance."""
        return self._ctx._event_task(event, self.id)

    def set_state(self, state: str) -> WorkflowTask:
        """A task that sets the instance's state."""
        return self._ctx._local(f"set_state {self.id} {state}", self._ctx._set_state, self, state)

    def get_state(self) -> WorkflowTask:
        """A task whose result is the instance's state."""
        return self._ctx._local(f"get_state {self.id}", lambda: self._instance.state)

    def __repr__(self) -> str:
        return f"<WorkflowNodeInstance {self.id!r}>"


class WorkflowContext:
    """What a workflow function gets as ``ctx`` (and, with cloudify-common installed, what
    ``from cloudify.workflows import ctx`` reads)."""

    def __init__(self, run: WorkflowRun, parameters: dict[str, Any]) -> None:
        self._run = run
        self.parameters = dict(parameters)
        self._graph_mode = False
        self._instances = [WorkflowNodeInstance(self, i) for i in run.instances.values()]
        self._nodes = {
            node_id: WorkflowNode(self, spec) for node_id, spec in run.env.blueprint.nodes.items()
        }
        fields = {
            "deployment_id": run.env.name,
            "execution_id": run.execution_id,
            "workflow_id": run.workflow,
            "node_instance_id": None,
            "operation": run.workflow,
            "plugin": None,
        }
        self.logger = logging.LoggerAdapter(logging.getLogger(WORKFLOW_LOGGER), fields)

    # -- what the deployment holds ----------------------------------------------------------

    @property
    def nodes(self) -> list[WorkflowNode]:
        """The deployment's nodes."""
        return list(self._nodes.values())

    @property
    def node_instances(self) -> list[WorkflowNodeInstance]:
        """The deployment's node instances."""
        return list(self._instances)

    def get_node(self, node_id: str) -> WorkflowNode:
        """A node by name."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise NonRecoverableError(
                f"no node {node_id!r}" + did_you_mean(node_id, self._nodes)
            ) from None

    def get_node_instance(self, instance_id: str) -> WorkflowNodeInstance:
        """A node instance by id."""
        for instance in self._instances:
            if instance.id == instance_id:
                return instance
        raise NonRecoverableError(f"no node instance {instance_id!r}")

    @property
    def deployment(self) -> _Deployment:
        """The deployment (``id``)."""
        return _Deployment(self._run.env.name)

    @property
    def blueprint(self) -> _Deployment:
        """The blueprint (``id``)."""
        return _Deployment(self._run.env.blueprint.id)

    @property
    def execution_id(self) -> str:
        """The running execution's id."""
        return self._run.execution_id

    @property
    def workflow_id(self) -> str:
        """The running workflow's name."""
        return self._run.workflow

    @property
    def tenant_name(self) -> None:
        """The tenant: none outside a Cloudify manager."""
        return None

    @property
    def local(self) -> bool:
        """Whether the workflow runs outside a Cloudify manager (always, here)."""
        return True

    @property
    def resume(self) -> bool:
        """Whether this is a resumed execution."""
        return self._run.resumed

    # -- running things ---------------------------------------------------------------------

    def graph_mode(self) -> TaskGraph:
        """Switch to graph mode: tasks start when the returned graph executes."""
        self._graph_mode = True
        return TaskGraph()

    def send_event(self, event: str, event_type: str = "workflow_event", **_: Any) -> None:
        """Record ``event`` with the execution now."""
        self._run.workflow_event(event, None)

    def local_task(
        self,
        local_task: Callable[..., Any],
        node: Any = None,
        info: str | None = None,
        kwargs: dict[str, Any] | None = None,
        **_: Any,
    ) -> WorkflowTask:
        """A task that calls ``local_task(**kwargs)`` in a thread."""
        name = str(info or getattr(local_task, "__name__", "local_task"))
        return self._local(name, local_task, **(kwargs or {}))

    def _start(self, task: WorkflowTask) -> WorkflowTask:
        return task if self._graph_mode else task.apply_async()

    def _local(
        self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> WorkflowTask:
        def start() -> concurrent.futures.Future[Any]:
            try:
                return _done(func(*args, **kwargs))
            except Exception as exc:
                future: concurrent.futures.Future[Any] = concurrent.futures.Future()
                future.set_exception(exc)
                return future

        return self._start(WorkflowTask(name, start))

    def _event_task(self, event: str, instance_id: str | None) -> WorkflowTask:
        return self._local(f"send_event {event}", self._run.workflow_event, event, instance_id)

    def _set_state(self, instance: WorkflowNodeInstance, state: str) -> None:
        self._run.set_state_threadsafe(instance.id, state)

    def _operation_task(
        self,
        instance: WorkflowNodeInstance,
        operation: str,
        kwargs: dict[str, Any],
        allow_override: bool,
    ) -> WorkflowTask:
        spec = self._nodes[instance.node_id]._spec.find_operation(operation)
        name = f"{instance.id}.{operation}"
        if spec is None:
            if operation in _STANDARD_OPS or operation.rsplit(".", 1)[-1] in _STANDARD_OPS:
                return self._start(WorkflowTask(name, _done))
            known = list(self._nodes[instance.node_id]._spec.operations)
            raise NonRecoverableError(
                f"node {instance.node_id!r} has no operation {operation!r}"
                + did_you_mean(operation, known)
            )
        clash = set(kwargs) & set(spec.inputs)
        if clash and not allow_override:
            raise NonRecoverableError(
                f"{operation}: kwargs {sorted(clash)} would override the operation's inputs "
                "(pass allow_kwargs_override=True to allow it)"
            )
        return self._start(
            WorkflowTask(
                name,
                lambda: self._run.submit_operation(instance._instance, spec, operation, kwargs),
            )
        )

    def __repr__(self) -> str:
        return f"<WorkflowContext {self.workflow_id!r} on {self.deployment.id!r}>"

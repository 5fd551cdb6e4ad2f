"""A local environment: one deployment of a blueprint with its storage, running workflows."""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pluggy

from plugyard.host import owner_mark, owner_state
from plugyard.sdk import PROJECT_NAME
from plugyard.sdk.lifecycle import NonRecoverableError, WorkflowFailed

from ._backend import StoreBackend
from ._blueprint import load_blueprint
from ._builtin_workflows import FUNCTIONS as BUILTIN_FUNCTIONS
from ._engine import OperationFailed, Settings, WorkflowRun
from ._errors import StorageError
from ._executors import EXECUTORS
from ._functions import FunctionError, evaluate, uses_function
from ._journal import Journal
from ._model import Blueprint, PluginDecl
from ._plan import NodeInstance, plan_instances
from ._runner import ensure_runner
from ._secrets import SecretNotFound, SecretStore
from ._storage import Execution, Storage
from ._threads import OperationThreads
from ._venvs import ensure_venv
from ._workflows_dsl import check_workflow_parameters

__all__ = [
    "DEFAULT_TASK_RETRIES",
    "DEFAULT_TASK_RETRY_INTERVAL",
    "DEFAULT_THREAD_POOL_SIZE",
    "Environment",
    "ExecutionResult",
    "init_env",
    "load_env",
]

logger = logging.getLogger("plugyard.lifecycle")
_SETTINGS_FIELDS = frozenset(Settings.__dataclass_fields__)
_RUNNING: set[str] = set()
"""Ids of the executions running in this process."""

DEFAULT_TASK_RETRIES = 3
"""Retries of a failing operation when neither the call nor the blueprint says (-1: no limit)."""
DEFAULT_TASK_RETRY_INTERVAL = 5.0
"""Seconds between retries when neither the error, the call nor the blueprint says."""
DEFAULT_THREAD_POOL_SIZE = 8
"""Plain (non-async) operations that may run at once."""

WORKFLOWS = {
    "install": {},
    "uninstall": {},
    "scale": {
        "scalable_entity_name": True,
        "delta": False,
        "scale_compute": False,
        "ignore_failure": False,
    },
    "heal": {"node_instance_id": True, "diagnose_value": False, "ignore_failure": False},
    "execute_operation": {
        "operation": True,
        "node_ids": False,
        "node_instance_ids": False,
        "operation_kwargs": False,
        "type_names": False,
    },
    **{
        name: {
            **dict.fromkeys(parms, False),
            "run_by_dependency_order": False,
            "type_names": False,
            "node_ids": False,
            "node_instance_ids": False,
        }
        for name, parms in (
            ("start", ("operation_parms",)),
            ("stop", ("operation_parms",)),
            ("restart", ("stop_parms", "start_parms")),
        )
    },
}
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
Subscriber = Callable[[str, dict[str, Any]], None]


class ExecutionResult(dict[str, Any]):
    """What ``execute`` returns: the execution's id, status and operation counts."""

    @property
    def id(self) -> str:
        """The execution id (pass it to ``resume``)."""
        return str(self["id"])


class _Backend(StoreBackend):
    """The context backend of one deployment in the engine: the storage backend, plus the
    blueprint and its nodes' properties."""

    def __init__(
        self,
        storage: Storage,
        folder: Path,
        workdirs: Path,
        deployment: str,
        blueprint: Blueprint | None = None,
    ) -> None:
        super().__init__(storage, folder, workdirs, deployment)
        self.blueprint = blueprint
        self.node_properties: Callable[[str], dict[str, Any]] | None = None


class _RuntimeFunctions:
    """Function lookups while running: ``get_attribute`` reads runtime properties."""

    def __init__(
        self, env: Environment, instance: NodeInstance | None, rel: dict[str, Any] | None
    ) -> None:
        self.env = env
        self.instance = instance
        self.rel = rel

    def _instance(self, node: str, where: str) -> NodeInstance:
        if node in ("SELF", "SOURCE") and self.instance is not None:
            return self.env.storage.get_node_instance(self.instance.id)
        if node == "TARGET" and self.rel is not None:
            return self.env.storage.get_node_instance(self.rel["target_instance_id"])
        found = self.env.storage.get_node_instances(self.env.name, node)
        if len(found) != 1:
            raise FunctionError(
                where, f"get_attribute: node {node!r} has {len(found)} instances; expected one"
            )
        return found[0]

    def get_input(self, name: str, where: str) -> Any:
        return self.env.blueprint.inputs[name]

    def get_property(self, node: str, path: list[Any], where: str) -> Any:
        value: Any = self.env.blueprint.nodes[self._instance(node, where).node_id].properties
        for key in path:
            value = value[key]
        return value

    def get_secret(self, key: str, path: list[Any], where: str) -> Any:
        try:
            return SecretStore(self.env.storage).value(key, path)
        except SecretNotFound:
            raise FunctionError(
                where,
                f"get_secret: no secret {key!r} (set it with: plugyard lifecycle secrets set "
                f"{key} -d {self.env.name})",
            ) from None
        except (KeyError, IndexError, TypeError, ValueError):
            raise FunctionError(where, f"get_secret: secret {key!r} has no item {path!r}") from None

    def get_attribute(self, node: str, path: list[Any], where: str) -> Any:
        instance = self._instance(node, where)
        value: Any = instance.runtime_properties
        if path and path[0] not in value:
            value = self.env.blueprint.nodes[instance.node_id].properties
        for key in path:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                return None
        return value


class _LogRouter(logging.Handler):
    """Turns ``ctx.logger`` records into events of the environment that ran the operation."""

    _installed: _LogRouter | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.targets: dict[str, Callable[[logging.LogRecord], None]] = {}

    @classmethod
    def get(cls) -> _LogRouter:
        with cls._lock:
            if cls._installed is None:
                cls._installed = cls()
                ops = logging.getLogger("plugyard.lifecycle.ops")
                ops.addHandler(cls._installed)
                if ops.level == logging.NOTSET:
                    ops.setLevel(logging.INFO)
            return cls._installed

    def emit(self, record: logging.LogRecord) -> None:
        target = self.targets.get(getattr(record, "execution_id", None) or "")
        if target is not None:
            target(record)


class Environment:
    """One deployment of a blueprint: its node instances, executions and events in storage.

    Run workflows with :meth:`execute` (or ``await`` :meth:`aexecute`), read :meth:`outputs`
    and ``storage.get_node_instances()``, and continue an interrupted execution with
    :meth:`resume`.
    """

    def __init__(
        self,
        blueprint: Blueprint,
        storage: Storage,
        name: str,
        *,
        pm: pluggy.PluginManager | None = None,
        workdirs: Path | None = None,
        owns_storage: bool = False,
    ) -> None:
        self.blueprint = blueprint
        self.storage = storage
        self.name = name
        self.pm = pm or pluggy.PluginManager(PROJECT_NAME)
        ensure_runner(self.pm)
        self.workdirs = workdirs or Path(tempfile.gettempdir()) / "plugyard-lifecycle"
        self.backend = _Backend(storage, blueprint.folder, self.workdirs, name, blueprint)
        self.db_executor = ThreadPoolExecutor(1, thread_name_prefix=f"lifecycle-db-{name}")
        self._subscribers: list[Subscriber] = []
        self.backend.node_properties = self.node_properties
        self._secret_nodes = {
            node_id
            for node_id, node in blueprint.nodes.items()
            if uses_function(node.properties, "get_secret")
        }
        self._owns_storage = owns_storage
        self._pythons: dict[str, Path] = {}

    def __repr__(self) -> str:
        return f"<Environment {self.name!r} of {self.blueprint.path}>"

    def plugin_python(self, decl: PluginDecl) -> Path:
        """The Python of a plugin installed in an environment of its own (``install: true``
        with a ``source``), made under the deployment's work folder on first use."""
        python = self._pythons.get(decl.name)
        if python is None:
            python = ensure_venv(decl, self.workdirs / self.name / "venvs")
            self._pythons[decl.name] = python
        return python

    @property
    def plan(self) -> Blueprint:
        """The parsed blueprint."""
        return self.blueprint

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(topic, data)`` for every event; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def emit(
        self,
        topic: str,
        data: dict[str, Any],
        journal: Journal | None = None,
        at: float | None = None,
    ) -> None:
        """Publish an event to subscribers and record it with the execution (as of ``at``,
        a :func:`time.time`, default now)."""
        if journal is not None:
            journal.event(topic, data, at)
        for callback in list(self._subscribers):
            try:
                callback(topic, data)
            except Exception:
                logger.exception("lifecycle event subscriber %r failed on %s", callback, topic)

    def runtime_functions(
        self, instance: NodeInstance | None, rel: dict[str, Any] | None = None
    ) -> _RuntimeFunctions:
        """Lookups for evaluating functions while operations run."""
        return _RuntimeFunctions(self, instance, rel)

    def reads_secrets(self, node_id: str) -> bool:
        """Whether a node's properties use ``get_secret`` (so each read evaluates them)."""
        return node_id in self._secret_nodes

    def node_properties(self, node_id: str) -> dict[str, Any]:
        """A node's properties, with ``get_secret`` read now (only where it is used)."""
        node = self.blueprint.nodes[node_id]
        if node_id not in self._secret_nodes:
            return node.properties
        try:
            value = evaluate(
                node.properties,
                self.runtime_functions(None),
                f"node_templates.{node_id}.properties",
                late=True,
            )
        except FunctionError as exc:
            raise NonRecoverableError(f"{exc.where}: {exc.message}") from None
        return dict(value)

    def outputs(self) -> dict[str, Any]:
        """The blueprint's outputs, evaluated against current runtime properties."""
        functions = self.runtime_functions(None)
        return {
            name: evaluate(value, functions, f"outputs.{name}", late=True)
            for name, value in self.blueprint.outputs.items()
        }

    def capabilities(self) -> dict[str, Any]:
        """The blueprint's capabilities, evaluated against current runtime properties."""
        functions = self.runtime_functions(None)
        return {
            name: evaluate(value, functions, f"capabilities.{name}", late=True)
            for name, value in self.blueprint.capabilities.items()
        }

    def close(self) -> None:
        """Release the storage thread (and the storage, if this environment opened it)."""
        self.db_executor.shutdown(wait=True)
        if self._owns_storage:
            self.storage.close()

    # -- workflows ----------------------------------------------------------------------------

    def execute(
        self,
        workflow: str,
        parameters: Mapping[str, Any] | None = None,
        allow_custom_parameters: bool = False,
        task_retries: int = DEFAULT_TASK_RETRIES,
        task_retry_interval: float = DEFAULT_TASK_RETRY_INTERVAL,
        task_thread_pool_size: int = DEFAULT_THREAD_POOL_SIZE,
        executor: str = "local",
    ) -> ExecutionResult:
        """Run a workflow to its end; raises WorkflowFailed with the failing error's causes.

        ``executor`` says where operations run: ``"local"`` (threads of this process),
        ``"process"`` (a child process each, killed at its timeout) or ``"celery"`` (tasks
        on agent queues; see the user guide)."""
        return asyncio.run(
            self.aexecute(
                workflow,
                parameters,
                allow_custom_parameters,
                task_retries,
                task_retry_interval,
                task_thread_pool_size,
                executor,
            )
        )

    async def aexecute(
        self,
        workflow: str,
        parameters: Mapping[str, Any] | None = None,
        allow_custom_parameters: bool = False,
        task_retries: int = DEFAULT_TASK_RETRIES,
        task_retry_interval: float = DEFAULT_TASK_RETRY_INTERVAL,
        task_thread_pool_size: int = DEFAULT_THREAD_POOL_SIZE,
        executor: str = "local",
    ) -> ExecutionResult:
        """:meth:`execute` on the running loop."""
        params = self._check_parameters(workflow, parameters or {}, allow_custom_parameters)
        if task_retries < -1:
            raise ValueError(f"task_retries must be -1 (no limit) or more, got {task_retries}")
        if executor not in EXECUTORS:
            raise ValueError(
                f"unknown lifecycle executor {executor!r} (known: {', '.join(EXECUTORS)})"
            )
        settings = {
            "task_retries": task_retries,
            "task_retry_interval": float(task_retry_interval),
            "thread_pool_size": max(1, int(task_thread_pool_size)),
            "executor": executor,
            "owner": owner_mark(),
        }
        execution = Execution(
            uuid.uuid4().hex,
            self.name,
            workflow,
            params,
            settings,
            "started",
            None,
            time.time(),
            None,
        )
        _RUNNING.add(execution.id)
        await self._db(self.storage.create_execution, execution)
        return await self._run(execution, set())

    def resume(self, execution_id: str, reset_operations: bool = False) -> ExecutionResult:
        """Run an interrupted or failed execution again; operations that succeeded are skipped.

        An operation that was running when the execution was interrupted runs again only if
        it is marked resumable; otherwise the resumed execution fails naming it, unless
        ``reset_operations`` says to run such operations again anyway.
        """
        return asyncio.run(self.aresume(execution_id, reset_operations))

    async def aresume(self, execution_id: str, reset_operations: bool = False) -> ExecutionResult:
        """:meth:`resume` on the running loop."""
        execution = await self._db(self.storage.get_execution, execution_id)
        if execution.deployment_id != self.name:
            raise ValueError(
                f"execution {execution_id} belongs to deployment {execution.deployment_id!r}"
            )
        if execution.status == "succeeded":
            raise ValueError(f"execution {execution_id} already succeeded; nothing to resume")
        skip = await self._db(self.storage.succeeded_keys, execution_id)
        rows = await self._db(self.storage.get_operations, execution_id)
        in_flight = (
            set()
            if reset_operations
            else {r["key"] for r in rows if r["state"] in ("started", "interrupted")}
        )
        _RUNNING.add(execution_id)
        await self._db(
            partial(self.storage.update_execution, execution_id, "started", owner=owner_mark())
        )
        return await self._run(execution, skip, in_flight, resumed=True)

    def fail_orphaned_executions(self) -> list[str]:
        """Mark failed every ``started`` execution whose process died (a host killed while
        running it): nothing will ever end it otherwise. Answers their ids; each can still
        be resumed."""
        failed = []
        for execution in self.storage.list_executions(self.name):
            if execution.status != "started" or execution.id in _RUNNING:
                continue
            owner = execution.settings.get("owner")
            state = owner_state(owner) if owner else "gone"
            if state not in ("gone", "this process"):
                continue
            message = (
                f"the host running execution {execution.id} ({owner or 'an older version'}) "
                "died before it ended; resume it with `plugyard lifecycle resume`"
            )
            error = {"type": "HostDied", "message": message, "causes": []}
            if self.storage.fail_if_started(execution.id, error):
                logger.warning("deployment %s: %s", self.name, message)
                failed.append(execution.id)
        return failed

    async def _db(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.db_executor, func, *args)

    def _check_parameters(
        self, workflow: str, given: Mapping[str, Any], allow_custom: bool
    ) -> dict[str, Any]:
        spec = self.blueprint.workflows.get(workflow)
        if spec is None and workflow not in WORKFLOWS:
            from ._imports import did_you_mean

            known = sorted({*WORKFLOWS, *self.blueprint.workflows})
            raise ValueError(
                f"unknown workflow {workflow!r} (known: {', '.join(known)})"
                + did_you_mean(workflow, known)
            )
        if spec is not None:
            params = check_workflow_parameters(spec, given, allow_custom)
        else:
            params = _check_builtin_parameters(workflow, given, allow_custom)
        kind = self._workflow_kind(workflow)
        if kind == "scale":
            delta = params.get("delta", 1)
            if isinstance(delta, bool) or not isinstance(delta, int):
                raise ValueError(f"workflow {workflow!r}: delta must be an integer, got {delta!r}")
            from ._scaling import scale_target

            scale_target(
                self.blueprint,
                str(params["scalable_entity_name"]),
                bool(params.get("scale_compute")),
            )
        elif kind == "heal":
            instance_id = str(params["node_instance_id"])
            known = [i.id for i in self.storage.get_node_instances(self.name)]
            if instance_id not in known:
                from ._imports import did_you_mean

                raise ValueError(
                    f"workflow {workflow!r}: no node instance {instance_id!r} in deployment "
                    f"{self.name!r}" + did_you_mean(instance_id, known)
                )
        if kind == "execute_operation":
            name = str(params["operation"])
            if not any(n.find_operation(name) for n in self.blueprint.nodes.values()):
                raise ValueError(f"execute_operation: no node maps operation {name!r}")
        return params

    def _workflow_kind(self, workflow: str) -> str | None:
        """The built-in workflow a name runs, or None for a workflow function."""
        spec = self.blueprint.workflows.get(workflow)
        return workflow if spec is None else spec.builtin

    async def _run(
        self,
        execution: Execution,
        skip: set[str],
        in_flight: set[str] | None = None,
        *,
        resumed: bool = False,
    ) -> ExecutionResult:
        settings = Settings(
            **{k: v for k, v in execution.settings.items() if k in _SETTINGS_FIELDS}
        )
        journal = Journal(self.storage, execution.id, self.name, self.db_executor)
        if resumed or skip:
            journal.known(await self._db(self.storage.operation_keys, execution.id))
        run = WorkflowRun(
            self,
            execution.id,
            execution.workflow_id,
            execution.parameters,
            settings,
            journal,
            skip,
            kind=self._workflow_kind(execution.workflow_id),
            in_flight=in_flight,
            resumed=resumed,
        )
        spec = self.blueprint.workflows.get(execution.workflow_id)
        loop = asyncio.get_running_loop()
        router = _LogRouter.get()

        def route(record: logging.LogRecord) -> None:
            loop.call_soon_threadsafe(self._log_event, record, journal)

        router.targets[execution.id] = route
        topic = f"workflow.{self.name}.{execution.workflow_id}"
        self.emit(
            f"{topic}.started",
            {"execution_id": execution.id, "deployment_id": self.name, "resumed": bool(skip)},
            journal,
        )
        pool = OperationThreads(settings.thread_pool_size, f"lifecycle-{self.name}")
        started = time.perf_counter()
        try:
            function = spec.function if spec is not None else None
            if function is None and run.kind in BUILTIN_FUNCTIONS:
                function = BUILTIN_FUNCTIONS[run.kind]
            if function is not None:
                await run.run_function(pool, function, execution.parameters)
            else:
                await run.run(pool)
        except OperationFailed as failure:
            return await self._failed(execution, run, failure, journal, started)
        except BaseException:
            await self._db(self.storage.update_execution, execution.id, "cancelled")
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            await asyncio.sleep(0)
            router.targets.pop(execution.id, None)
            _RUNNING.discard(execution.id)
        result = self._result(execution, run, "succeeded", started)
        self.emit(f"{topic}.succeeded", dict(result), journal)
        await journal.commit()
        await self._db(self.storage.update_execution, execution.id, "succeeded")
        return result

    async def _failed(
        self,
        execution: Execution,
        run: WorkflowRun,
        failure: OperationFailed,
        journal: Journal,
        started: float,
    ) -> ExecutionResult:
        error = {
            "message": str(failure),
            "type": type(failure.error).__name__,
            "causes": failure.causes,
        }
        result = self._result(execution, run, "failed", started)
        result["error"] = error
        self.emit(f"workflow.{self.name}.{execution.workflow_id}.failed", dict(result), journal)
        await journal.commit()
        await self._db(self.storage.update_execution, execution.id, "failed", error)
        raise WorkflowFailed(
            f"workflow {execution.workflow_id!r} failed: {failure}",
            failure.causes,
            execution_id=execution.id,
            error_type=type(failure.error).__name__,
        ) from failure.error

    def _result(
        self, execution: Execution, run: WorkflowRun, status: str, started: float
    ) -> ExecutionResult:
        return ExecutionResult(
            id=execution.id,
            deployment_id=self.name,
            workflow_id=execution.workflow_id,
            status=status,
            duration=round(time.perf_counter() - started, 6),
            **run.counts,
        )

    def _log_event(self, record: logging.LogRecord, journal: Journal) -> None:
        instance = getattr(record, "node_instance_id", None) or "-"
        operation = getattr(record, "operation", None) or "-"
        data = {
            "deployment_id": self.name,
            "execution_id": getattr(record, "execution_id", None),
            "node_instance_id": instance,
            "operation": operation,
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
        }
        self.emit(f"operation.{self.name}.{instance}.{operation}.log", data, journal)


def _check_builtin_parameters(
    workflow: str, given: Mapping[str, Any], allow_custom: bool
) -> dict[str, Any]:
    declared = WORKFLOWS[workflow]
    for key in given:
        if key not in declared and not allow_custom:
            raise ValueError(
                f"workflow {workflow!r}: unknown parameter {key!r} "
                f"(known: {', '.join(declared) or 'none'})"
            )
    for key, required in declared.items():
        if required and key not in given:
            raise ValueError(f"workflow {workflow!r}: parameter {key!r} is required")
    return dict(given)


def _open_storage(storage: Storage | str | Path | None) -> tuple[Storage, bool]:
    if isinstance(storage, Storage):
        return storage, False
    return Storage(storage), True


def init_env(
    blueprint_path: str | Path,
    name: str = "local",
    inputs: Mapping[str, Any] | None = None,
    storage: Storage | str | Path | None = None,
    *,
    plugin_source_root: str | Path | None = None,
    pm: pluggy.PluginManager | None = None,
    workdirs: str | Path | None = None,
) -> Environment:
    """Read a blueprint, create deployment ``name`` with its node instances, return it.

    ``storage`` is a :class:`Storage`, a SQLAlchemy URL (``postgresql://...``), a SQLite file
    path, or ``None`` for an in-memory database. Every mapped operation is imported now, so
    a wrong mapping fails here with the YAML path that names it.
    """
    if not NAME_RE.match(name):
        raise ValueError(f"deployment name {name!r}: use letters, digits, '-' and '_' only")
    source_root = Path(plugin_source_root).resolve() if plugin_source_root else None
    blueprint = load_blueprint(blueprint_path, inputs, plugin_source_root=source_root)
    store, owned = _open_storage(storage)
    if store.get_deployment(name) is not None:
        if owned:
            store.close()
        raise StorageError(
            f"deployment {name!r} already exists in {store.safe_url}; load it with "
            "load_env() or choose another name"
        )
    store.create_deployment(
        name,
        blueprint.id,
        str(blueprint.path),
        blueprint.inputs,
        plan_instances(blueprint, name),
        str(source_root) if source_root else None,
    )
    return Environment(
        blueprint,
        store,
        name,
        pm=pm,
        workdirs=Path(workdirs) if workdirs else None,
        owns_storage=owned,
    )


def load_env(
    name: str,
    storage: Storage | str | Path,
    *,
    pm: pluggy.PluginManager | None = None,
    workdirs: str | Path | None = None,
) -> Environment:
    """Open deployment ``name`` from storage (its blueprint is read again from its path)."""
    store, owned = _open_storage(storage)
    record = store.get_deployment(name)
    if record is None:
        known = ", ".join(d["id"] for d in store.list_deployments()) or "none"
        if owned:
            store.close()
        raise StorageError(f"no deployment {name!r} in {store.safe_url} (deployments: {known})")
    root = Path(record["source_root"]) if record["source_root"] else None
    blueprint = load_blueprint(record["blueprint_path"], record["inputs"], plugin_source_root=root)
    env = Environment(
        blueprint,
        store,
        name,
        pm=pm,
        workdirs=Path(workdirs) if workdirs else None,
        owns_storage=owned,
    )
    env.fail_orphaned_executions()
    return env

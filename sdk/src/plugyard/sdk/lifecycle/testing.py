"""Testing helpers for lifecycle plugins: ``MockContext``, the ``mock_ctx`` fixture and
``workflow_test`` (a local environment per test, as a decorator or a context manager).

``workflow_test`` runs real workflows, so it needs the ``plugyard-lifecycle`` adapter
installed; it imports it only when used (the SDK never depends on it).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ._context import (
    NodeContext,
    NodeInstanceContext,
    OperationContext,
    OperationInfo,
    PluginInfo,
    RelationshipSubject,
)
from ._errors import NonRecoverableError, VersionConflict
from ._resources import resolve_resource
from ._state import current_ctx

__all__ = ["MockContext", "MockRelationshipSubject", "mock_ctx", "workflow_test"]


class _MemoryBackend:
    """Runtime properties in a dict; resources from a dict or a folder."""

    def __init__(
        self,
        resources: Mapping[str, bytes | str] | None = None,
        resource_dir: str | Path | None = None,
    ) -> None:
        self.instances: dict[str, tuple[dict[str, Any], int]] = {}
        self.resources = dict(resources or {})
        self.resource_dir = Path(resource_dir) if resource_dir is not None else None
        self._workdir: Path | None = None

    def load_runtime_properties(self, instance_id: str) -> tuple[dict[str, Any], int]:
        data, version = self.instances.get(instance_id, ({}, 0))
        return dict(data), version

    def save_runtime_properties(
        self, instance_id: str, properties: dict[str, Any], version: int
    ) -> int:
        _, current = self.instances.get(instance_id, ({}, 0))
        if current != version:
            raise VersionConflict(instance_id, version, current)
        self.instances[instance_id] = (dict(properties), current + 1)
        return current + 1

    def read_resource(self, path: str) -> bytes:
        if path in self.resources:
            value = self.resources[path]
            return value.encode("utf-8") if isinstance(value, str) else value
        if self.resource_dir is not None:
            return resolve_resource(self.resource_dir, path).read_bytes()
        raise NonRecoverableError(f"resource {path!r} not found in the mock's resources")

    def workdir(self, plugin_name: str) -> Path | None:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="plugyard-mock-workdir-"))
        return self._workdir / (plugin_name or "plugin")


class MockRelationshipSubject(RelationshipSubject):
    """One end of a relationship for a :class:`MockContext` (``source=`` or ``target=``)."""

    def __init__(
        self,
        node_id: str = "node",
        node_name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        runtime_properties: Mapping[str, Any] | None = None,
        node_type: str | None = None,
    ) -> None:
        backend = _MemoryBackend()
        backend.instances[node_id] = (dict(runtime_properties or {}), 0)
        super().__init__(
            NodeContext(node_name or node_id, properties, node_type),
            NodeInstanceContext(node_id, backend, runtime_properties, 0),
        )


class MockContext(OperationContext):
    """A context for calling an operation directly in a unit test.

    Use it with ``current_ctx`` exactly as a workflow would::

        mock = MockContext(node_id="test_node_id", node_name="test_node_name",
                           properties={"node_property_1": "value_1"})
        try:
            current_ctx.set(mock)
            my_plugin.my_operation()
        finally:
            current_ctx.clear()

    ``update()`` saves into memory with the same version checks as a workflow, resources come
    from ``resources`` (a path-to-content dict) or ``resource_dir``, and passing ``source``
    and ``target`` (:class:`MockRelationshipSubject`) makes a relationship context.
    """

    def __init__(
        self,
        node_id: str | None = None,
        node_name: str | None = None,
        node_type: str | None = None,
        blueprint_id: str | None = None,
        deployment_id: str | None = None,
        execution_id: str | None = None,
        workflow_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        runtime_properties: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        retry_number: int = 0,
        max_retries: int = 0,
        resources: Mapping[str, bytes | str] | None = None,
        resource_dir: str | Path | None = None,
        source: RelationshipSubject | None = None,
        target: RelationshipSubject | None = None,
        plugin_name: str | None = None,
        index: int = 0,
    ) -> None:
        backend = _MemoryBackend(resources, resource_dir)
        plugin = plugin_name or ""
        node = instance = None
        if source is None and (node_id is not None or node_name is not None or properties):
            instance_id = node_id or node_name or "node"
            backend.instances[instance_id] = (dict(runtime_properties or {}), 0)
            node = NodeContext(node_name or instance_id, properties, node_type)
            instance = NodeInstanceContext(instance_id, backend, runtime_properties, 0, index=index)
        self.mock_backend = backend
        super().__init__(
            backend=backend,
            operation=OperationInfo(operation_name or "mock", retry_number, max_retries),
            deployment_id=deployment_id,
            blueprint_id=blueprint_id,
            execution_id=execution_id,
            workflow_id=workflow_id,
            node=node,
            instance=instance,
            source=source,
            target=target,
            plugin=PluginInfo(plugin, workdir=lambda: backend.workdir(plugin)),
        )


def _fixture(func: Callable[..., Any]) -> Any:
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is not installed
        return func
    return pytest.fixture(func)


@_fixture
def mock_ctx(request: Any) -> Iterator[MockContext]:
    """A :class:`MockContext` set as the current context for the test, cleared after.

    Arguments come from indirect parametrization:
    ``@pytest.mark.parametrize("mock_ctx", [{"properties": {"port": 8000}}], indirect=True)``.
    """
    options = dict(getattr(request, "param", None) or {})
    mock = MockContext(**{"node_id": "node", **options})
    with current_ctx.push(mock):
        yield mock


def _local() -> Any:
    try:
        return importlib.import_module("plugyard.adapters.lifecycle.local")
    except ImportError as exc:  # pragma: no cover - the adapter is not installed
        raise RuntimeError(
            "workflow_test runs real workflows: install the plugyard-lifecycle adapter"
        ) from exc


def _find_upwards(start: Path, name: str) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / name).is_file():
            return folder / name
    return None


class workflow_test:
    """A local environment for a test, from a blueprint copied into a temporary folder.

    As a decorator it passes the environment as the test's first argument after ``self``
    (paths are relative to the test's file); as a context manager ``with
    workflow_test(path) as env:`` it returns it (paths relative to the working directory).
    ``inputs`` may be a dict, a function (called with ``input_func_args`` and
    ``input_func_kwargs``) or, for the decorator, the name of a method of the test's class.
    """

    def __init__(
        self,
        blueprint_path: str | Path,
        copy_plugin_yaml: bool = False,
        resources_to_copy: Sequence[str | tuple[str, str]] | None = None,
        temp_dir_prefix: str | None = None,
        init_args: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | Callable[..., Any] | str | None = None,
        input_func_args: Sequence[Any] | None = None,
        input_func_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.blueprint_path = Path(blueprint_path)
        self.copy_plugin_yaml = copy_plugin_yaml
        self.resources_to_copy = list(resources_to_copy or [])
        self.temp_dir_prefix = temp_dir_prefix or "plugyard-workflow-test-"
        self.init_args = dict(init_args or {})
        self.inputs = inputs
        self.input_func_args = list(input_func_args or [])
        self.input_func_kwargs = dict(input_func_kwargs or {})
        self._temp_dir: Path | None = None
        self.env: Any = None

    # -- set up and tear down ---------------------------------------------------------------

    def _resolve_inputs(self, test_self: Any) -> Any:
        inputs = self.inputs
        if isinstance(inputs, str):
            if test_self is None:
                raise ValueError(
                    f"inputs={inputs!r} names a method of the test class; that only works "
                    "when workflow_test decorates a test method"
                )
            inputs = getattr(test_self, inputs)
        if callable(inputs):
            return inputs(*self.input_func_args, **self.input_func_kwargs)
        return inputs

    def set_up(self, base: Path | None, test_self: Any = None) -> Any:
        """Copy the blueprint and resources to a temporary folder and open an environment."""
        if base is None and self.copy_plugin_yaml:
            raise ValueError("copy_plugin_yaml works only when workflow_test is a decorator")
        root = base or Path.cwd()
        source = self.blueprint_path
        if not source.is_absolute():
            source = root / source
        temp = Path(tempfile.mkdtemp(prefix=self.temp_dir_prefix))
        self._temp_dir = temp
        shutil.copy(source, temp / source.name)
        if self.copy_plugin_yaml and base is not None:
            found = _find_upwards(base, "plugin.yaml")
            if found is None:
                raise FileNotFoundError(f"no plugin.yaml in {base} or any folder above it")
            shutil.copy(found, temp / "plugin.yaml")
        for item in self.resources_to_copy:
            src, dest = (item, Path(item).name) if isinstance(item, str) else item
            src_path = Path(src)
            if not src_path.is_absolute():
                if base is None:
                    raise ValueError(
                        f"resources_to_copy: {src!r} is relative; use absolute paths with the "
                        "context manager"
                    )
                src_path = base / src_path
            target = temp / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            if src_path.is_dir():
                shutil.copytree(src_path, target, dirs_exist_ok=True)
            else:
                shutil.copy(src_path, target)
        args = dict(self.init_args)
        inputs = self._resolve_inputs(test_self)
        if inputs is not None:
            args["inputs"] = inputs
        args.setdefault("plugin_source_root", source.parent)
        self.env = _local().init_env(str(temp / source.name), **args)
        return self.env

    def tear_down(self) -> None:
        """Close the environment and remove the temporary folder."""
        if self.env is not None:
            self.env.close()
            self.env = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    # -- context manager --------------------------------------------------------------------

    def __enter__(self) -> Any:
        return self.set_up(None)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.tear_down()

    # -- decorator --------------------------------------------------------------------------

    def __call__(self, test: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(test)
        params = list(signature.parameters.values())
        is_method = bool(params) and params[0].name == "self"
        env_index = 1 if is_method else 0
        base = Path(inspect.getfile(test)).resolve().parent
        spec = self

        @functools.wraps(test)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runner = workflow_test(
                spec.blueprint_path,
                spec.copy_plugin_yaml,
                spec.resources_to_copy,
                spec.temp_dir_prefix,
                spec.init_args,
                spec.inputs,
                spec.input_func_args,
                spec.input_func_kwargs,
            )
            test_self = args[0] if is_method and args else None
            env = runner.set_up(base, test_self)
            try:
                call_args = list(args)
                call_args.insert(env_index, env)
                return test(*call_args, **kwargs)
            finally:
                runner.tear_down()

        shown = params[:env_index] + params[env_index + 1 :]
        wrapper.__signature__ = signature.replace(parameters=shown)  # type: ignore[attr-defined]
        return wrapper

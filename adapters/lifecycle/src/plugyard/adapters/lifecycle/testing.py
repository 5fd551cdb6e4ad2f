"""Testing helpers that run real workflows: ``workflow_test``, a local environment per test
from a blueprint copied into a temporary folder, as a decorator or a context manager (the
counterpart of Cloudify's ``cloudify.test_utils.workflow_test``)."""

from __future__ import annotations

import functools
import inspect
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ._environment import init_env

__all__ = ["workflow_test"]


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
        self.env = init_env(str(temp / source.name), **args)
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

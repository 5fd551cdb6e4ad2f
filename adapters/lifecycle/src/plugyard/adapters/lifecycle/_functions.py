"""Intrinsic functions in blueprints: ``get_input``, ``get_property``, ``get_attribute``,
``concat``, ``get_secret``. Inputs and properties are resolved when the blueprint is read;
attributes (runtime properties) and secrets when an operation runs or outputs are read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["FUNCTIONS", "FunctionError", "Functions", "evaluate", "function_of", "uses_function"]

FUNCTIONS = ("get_input", "get_property", "get_attribute", "concat", "get_secret")


class FunctionError(ValueError):
    """An intrinsic function could not be evaluated; ``where`` is the YAML path."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


class Functions(Protocol):
    """What evaluating needs: inputs, and node properties/attributes by node name."""

    def get_input(self, name: str, where: str) -> Any: ...

    def get_property(self, node: str, path: list[Any], where: str) -> Any: ...

    def get_attribute(self, node: str, path: list[Any], where: str) -> Any:
        """A runtime property; raise ``LookupError`` to leave the call for later."""
        ...

    def get_secret(self, key: str, path: list[Any], where: str) -> Any:
        """A secret; raise ``LookupError`` to leave the call for later."""
        ...


def function_of(value: Any) -> tuple[str, Any] | None:
    """``(name, args)`` if ``value`` is an intrinsic function call, else ``None``."""
    if isinstance(value, Mapping) and len(value) == 1:
        name, args = next(iter(value.items()))
        if name in FUNCTIONS:
            return str(name), args
    return None


def uses_function(value: Any, name: str) -> bool:
    """Whether ``value`` calls the intrinsic function ``name`` anywhere inside it."""
    call = function_of(value)
    if call is not None and call[0] == name:
        return True
    if isinstance(value, Mapping):
        return any(uses_function(v, name) for v in value.values())
    if isinstance(value, list):
        return any(uses_function(v, name) for v in value)
    return False


def _dig(value: Any, path: list[Any], where: str, what: str) -> Any:
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            raise FunctionError(where, f"{what}: no {key!r} in {value!r}") from None
    return value


def _node_path(args: Any, where: str, name: str) -> tuple[str, list[Any]]:
    if not isinstance(args, list) or len(args) < 2 or not isinstance(args[0], str):
        raise FunctionError(where, f"{name} expects [node_name, key, ...], got {args!r}")
    return args[0], list(args[1:])


def evaluate(value: Any, functions: Functions, where: str, *, late: bool = False) -> Any:
    """``value`` with every function call replaced by its result.

    With ``late=False`` a ``get_attribute`` whose lookup raises ``LookupError`` stays as
    written (to be evaluated when the operation runs).
    """
    call = function_of(value)
    if call is not None:
        return _call(call[0], call[1], functions, where, late)
    if isinstance(value, Mapping):
        return {k: evaluate(v, functions, f"{where}.{k}", late=late) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, functions, f"{where}[{i}]", late=late) for i, v in enumerate(value)]
    return value


def _call(name: str, args: Any, functions: Functions, where: str, late: bool) -> Any:
    handlers: dict[str, Callable[[], Any]] = {
        "get_input": lambda: _get_input(args, functions, where),
        "get_property": lambda: _get_property(args, functions, where),
        "get_attribute": lambda: _get_attribute(args, functions, where, late),
        "concat": lambda: _concat(args, functions, where, late),
        "get_secret": lambda: _get_secret(args, functions, where),
    }
    return handlers[name]()


def _get_input(args: Any, functions: Functions, where: str) -> Any:
    if isinstance(args, str):
        return functions.get_input(args, where)
    if isinstance(args, list) and args and isinstance(args[0], str):
        return _dig(functions.get_input(args[0], where), list(args[1:]), where, "get_input")
    raise FunctionError(where, f"get_input expects an input name, got {args!r}")


def _get_property(args: Any, functions: Functions, where: str) -> Any:
    node, path = _node_path(args, where, "get_property")
    return functions.get_property(node, path, where)


def _get_attribute(args: Any, functions: Functions, where: str, late: bool) -> Any:
    node, path = _node_path(args, where, "get_attribute")
    try:
        return functions.get_attribute(node, path, where)
    except LookupError:
        if late:
            return None
        return {"get_attribute": args}


def _get_secret(args: Any, functions: Functions, where: str) -> Any:
    if isinstance(args, str):
        key, path = args, []
    elif isinstance(args, list) and args and isinstance(args[0], str):
        key, path = args[0], list(args[1:])
    else:
        raise FunctionError(where, f"get_secret expects a key or [key, path...], got {args!r}")
    try:
        return functions.get_secret(key, path, where)
    except LookupError:
        return {"get_secret": args}


def _concat(args: Any, functions: Functions, where: str, late: bool) -> Any:
    if not isinstance(args, list):
        raise FunctionError(where, f"concat expects a list, got {args!r}")
    parts = [evaluate(a, functions, f"{where}.concat[{i}]", late=late) for i, a in enumerate(args)]
    if any(function_of(p) is not None for p in parts):
        return {"concat": parts}
    return "".join("" if p is None else str(p) for p in parts)

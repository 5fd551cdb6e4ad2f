"""Declarative call order: ``@hookimpl(before=[...], after=[...])`` by plugin name.

pluggy orders a hook's implementations by wrapper, ``tryfirst``/``trylast`` and registration
(the later registered is called first). The host keeps that order and moves implementations
only as far as their declarations require: a stable topological sort whose ties keep pluggy's
order. The result is written back into pluggy's own list, so ``host.hook.NAME(...)``,
``host.call_hook`` and the typed callers all call in the same order.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pluggy

from plugyard.sdk import PROJECT_NAME

__all__ = [
    "ORDER_ATTR",
    "OrderError",
    "CallPosition",
    "apply",
    "declared_order",
    "natural_order",
    "resolve",
    "unknown_references",
]

ORDER_ATTR: Final = f"{PROJECT_NAME}_order"
"""Where ``@hookimpl(before=..., after=...)`` stores its plugin names on the function."""


class OrderError(ValueError):
    """Declared ``before``/``after`` orders that cannot all hold: a cycle, or a plain
    implementation asked to run around a wrapper. The message names the plugins and the hook."""

    def __init__(self, hook: str, plugins: Sequence[str], message: str) -> None:
        super().__init__(message)
        self.hook = hook
        self.plugins = tuple(plugins)


@dataclass(frozen=True, slots=True)
class CallPosition:
    """One implementation in a hook's resolved call order, and why it stands there."""

    plugin: str
    reason: str
    wrapper: bool = False


def declared_order(impl: pluggy.HookImpl) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``(before, after)`` plugin names ``impl`` declared (empty if none)."""
    found: Any = getattr(impl.function, ORDER_ATTR, None)
    if not isinstance(found, tuple) or len(found) != 2:
        return (), ()
    return tuple(found[0]), tuple(found[1])


def _is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.wrapper or impl.hookwrapper)


def natural_order(
    impls: Iterable[pluggy.HookImpl], registered: Mapping[str, int]
) -> list[pluggy.HookImpl]:
    """``impls`` in pluggy's own list order (it calls from the end): plain implementations
    before wrappers; in each, ``trylast`` (latest registered first), plain, then
    ``tryfirst`` (both earliest registered first)."""

    def key(impl: pluggy.HookImpl) -> tuple[bool, int, int]:
        seq = registered.get(impl.plugin_name, 0)
        if impl.trylast:
            return _is_wrapper(impl), 0, -seq
        return _is_wrapper(impl), 2 if impl.tryfirst else 1, seq

    return sorted(impls, key=key)


def _edges(
    hook: str, calls: Sequence[pluggy.HookImpl]
) -> tuple[list[set[int]], dict[tuple[int, int], str]]:
    """Edges ``i -> j`` (``i`` called before ``j``) over positions in ``calls``, each with
    the plugin that declared it."""
    at: dict[str, list[int]] = {}
    for index, impl in enumerate(calls):
        at.setdefault(impl.plugin_name, []).append(index)
    edges: list[set[int]] = [set() for _ in calls]
    declared_by: dict[tuple[int, int], str] = {}
    for index, impl in enumerate(calls):
        before, after = declared_order(impl)
        pairs = [(index, other) for name in before for other in at.get(name, ())]
        pairs += [(other, index) for name in after for other in at.get(name, ())]
        for first, then in pairs:
            if first == then or calls[first].plugin_name == calls[then].plugin_name:
                continue
            if _is_wrapper(calls[first]) != _is_wrapper(calls[then]):
                if _is_wrapper(calls[first]):
                    continue  # a wrapper always starts before the plain implementations
                raise OrderError(
                    hook,
                    [calls[first].plugin_name, calls[then].plugin_name],
                    f"hook {hook}: plugin {impl.plugin_name!r} orders the plain "
                    f"implementation of {calls[first].plugin_name!r} before the wrapper of "
                    f"{calls[then].plugin_name!r}, but wrappers always run around plain "
                    "implementations",
                )
            edges[first].add(then)
            declared_by.setdefault((first, then), impl.plugin_name)
    return edges, declared_by


def resolve(hook: str, impls: Sequence[pluggy.HookImpl]) -> list[tuple[pluggy.HookImpl, str]]:
    """``impls`` (pluggy's list order) reordered by every declaration, in call order, each
    with the reason for its position; :class:`OrderError` if the declarations conflict.

    Implementations are taken in pluggy's call order; one that must come after others not
    yet placed pulls them forward, just ahead of itself. What no declaration touches keeps
    its place, and a ``tryfirst`` implementation stays as early as its declarations allow.
    """
    calls = list(reversed(impls))
    edges, declared_by = _edges(hook, calls)
    before_me: list[list[int]] = [[] for _ in calls]
    for first, targets in enumerate(edges):
        for then in targets:
            before_me[then].append(first)
    order: list[int] = []
    state = [0] * len(calls)  # 0: not placed, 1: being placed, 2: placed

    def place(index: int, path: list[int]) -> None:
        if state[index] == 2:
            return
        if state[index] == 1:
            cycle = sorted({calls[i].plugin_name for i in path[path.index(index) :]})
            raise OrderError(
                hook,
                cycle,
                f"hook {hook}: the before/after declarations of plugins "
                f"{', '.join(repr(n) for n in cycle)} form a cycle; remove one of them",
            )
        state[index] = 1
        for earlier in sorted(before_me[index]):
            place(earlier, [*path, index])
        state[index] = 2
        order.append(index)

    for index in range(len(calls)):
        place(index, [])
    return [(calls[index], _reason(index, calls, edges, declared_by)) for index in order]


def _reason(
    index: int,
    calls: Sequence[pluggy.HookImpl],
    edges: list[set[int]],
    declared_by: Mapping[tuple[int, int], str],
) -> str:
    impl = calls[index]
    parts = ["wrapper"] if _is_wrapper(impl) else []
    parts += ["tryfirst"] if impl.tryfirst else ["trylast"] if impl.trylast else []
    name = impl.plugin_name
    for (first, then), by in sorted(declared_by.items()):
        if first == index:
            other = calls[then].plugin_name
            parts.append(f"before {other}" + ("" if by == name else f" (declared by {by})"))
        elif then == index:
            other = calls[first].plugin_name
            parts.append(f"after {other}" + ("" if by == name else f" (declared by {by})"))
    if not parts:
        parts.append("registration order (pluggy calls the latest registered first)")
    return ", ".join(parts)


def apply(
    callers: Iterable[pluggy.HookCaller], registered: Mapping[str, int]
) -> list[pluggy.HookCaller]:
    """Reorder each caller's implementation list in place; returns the callers changed.
    Raises :class:`OrderError` (changing nothing further) for conflicting declarations."""
    changed = []
    for caller in callers:
        current: list[pluggy.HookImpl] = caller._hookimpls
        natural = natural_order(current, registered)
        if any(declared_order(impl) != ((), ()) for impl in natural):
            ordered = [impl for impl, _ in resolve(caller.name, natural)]
            natural = list(reversed(ordered))
        if natural != current:
            current[:] = natural
            changed.append(caller)
    return changed


def unknown_references(
    pm: pluggy.PluginManager, known: Container[str]
) -> list[tuple[str, str, str]]:
    """``(plugin, hook, name)`` for each ``before``/``after`` name that is neither registered
    with pluggy nor in ``known`` (the registry's names)."""
    found = []
    for plugin_name, plugin in pm.list_name_plugin():
        for caller in pm.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                before, after = declared_order(impl)
                for name in (*before, *after):
                    if name not in known and not pm.has_plugin(name):
                        found.append((plugin_name, caller.name, name))
    return found

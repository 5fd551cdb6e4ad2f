"""``host.call_hook``: policy-driven async dispatch of a hook, results attributed to plugins."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from inspect import isawaitable
from operator import itemgetter
from typing import Any, NamedTuple

import pluggy

from ._ordering import ORDER_ATTR, CallPosition, OrderError, apply, natural_order, resolve
from ._policy import DEFAULT_POLICY, POLICY_ATTR, ErrorMode, HookPolicy, ResultMode
from ._stats import PluginStats, Stats
from ._versions import version_problem, warn_once

__all__ = [
    "HookFailure",
    "HookResult",
    "HookTimeout",
    "Outcome",
    "PluginManager",
    "hook_problem",
    "hooks_of",
    "register",
]

logger = logging.getLogger("plugyard.host")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, keeping every hook in its declared order (``before``/``after``)
    and telling the dispatcher when the implementations change, so that each hook's call
    plan is built once per change rather than per call."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self._registered: dict[str, int] = {}
        self._sequence = 0
        self._listeners: list[Callable[[], None]] = []
        # Indexes pluggy itself does not keep, so that registering and unregistering
        # one plugin costs the same with ten or a thousand others registered: the name of
        # each registered plugin object, the hooks each implements, and the hooks whose
        # list has been reordered by a declaration.
        self._names: dict[int, str] = {}
        self._hooks_of: dict[str, tuple[str, ...]] = {}
        self._collecting: list[tuple[str, bool]] | None = None
        self._declaring: dict[str, set[str]] = {}
        self._reordered: set[str] = set()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every registration and unregistration."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register as pluggy does, then order the plugin's hooks by every declaration.

        Declarations that conflict (a cycle) undo the registration and raise
        :class:`~plugyard.host.OrderError`, which names the plugins and the hook.
        """
        try:
            outer, found = self._collecting, list[tuple[str, bool]]()
            self._collecting = found
            try:
                registered = super().register(plugin, name)
            finally:
                self._collecting = outer  # a registration made while this one runs
            if registered is None:
                return None
            self._names[id(plugin)] = registered
            self._hooks_of[registered] = tuple(dict.fromkeys(hook for hook, _ in found))
            for hook, declares in found:
                if declares:
                    self._declaring.setdefault(hook, set()).add(registered)
            self._sequence += 1
            self._registered[registered] = self._sequence
            try:
                self._order(self.get_hookcallers(plugin) or ())
            except OrderError:
                self.unregister(plugin)
                raise
            return registered
        finally:
            self._changed()

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        if name[:2] == "__":
            return None  # object's own protocol (``__init__``, ``__eq__``...), never a hook
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None and self._collecting is not None:
            # the same lookup as declared_order(impl): the attribute pluggy will call
            declares = getattr(getattr(plugin, name, None), ORDER_ATTR, None) is not None
            self._collecting.append((opts.get("specname") or name, declares))
        return opts

    def get_name(self, plugin: object) -> str | None:
        name = self._names.get(id(plugin))
        if name is not None and self._name2plugin.get(name) is plugin:
            return name
        if type(plugin).__eq__ is object.__eq__:
            return None  # compared by identity, and every registration is indexed
        return super().get_name(plugin)

    def is_registered(self, plugin: object) -> bool:
        return self.get_name(plugin) is not None

    def get_hookcallers(self, plugin: object) -> list[pluggy.HookCaller] | None:
        name = self._names.get(id(plugin))
        if name is None or self._name2plugin.get(name) is not plugin:
            return super().get_hookcallers(plugin)
        callers: list[pluggy.HookCaller] = []
        for hook in self._hooks_of.get(name, ()):
            caller = getattr(self.hook, hook, None)
            if isinstance(caller, pluggy.HookCaller):
                callers.append(caller)
        return callers

    def _order(self, callers: Iterable[pluggy.HookCaller]) -> None:
        """Keep each of ``callers`` in its declared order. A hook on which no implementation
        declares an order, and which was never reordered, is already in pluggy's own order
        and is left alone."""
        needed = [
            caller
            for caller in callers
            if caller.name in self._reordered or self._declaring.get(caller.name)
        ]
        if not needed:
            return
        try:
            apply(needed, self._registered)
        except BaseException:
            self._reordered.update(caller.name for caller in needed)
            raise
        for caller in needed:
            if self._declaring.get(caller.name):
                self._reordered.add(caller.name)
            else:
                self._reordered.discard(caller.name)  # back in pluggy's own order

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Unregister as pluggy does; the other plugins' declared order is kept."""
        if plugin is None and name is not None:
            plugin = self.get_plugin(name)
        callers = list(self.get_hookcallers(plugin) or ()) if plugin is not None else []
        try:
            removed = super().unregister(plugin, name)
            gone = self._names.pop(id(removed), None) if removed is not None else None
            if gone is not None and not self.has_plugin(gone):
                self._registered.pop(gone, None)
                for hook in self._hooks_of.pop(gone, ()):
                    declaring = self._declaring.get(hook)
                    if declaring is not None:
                        declaring.discard(gone)
                        if not declaring:
                            del self._declaring[hook]
            self._order(callers)
            return removed
        finally:
            self._changed()

    def call_order(self, hook: str) -> list[CallPosition]:
        """Hook ``hook``'s implementations in the order they are called, with the reason
        for each position (``plugyard hooks NAME`` prints it)."""
        caller = getattr(self.hook, hook, None)
        if not isinstance(caller, pluggy.HookCaller):
            raise KeyError(f"no hook named {hook!r}")
        impls = natural_order(caller.get_hookimpls(), self._registered)
        return [
            CallPosition(impl.plugin_name, reason, bool(impl.wrapper or impl.hookwrapper))
            for impl, reason in resolve(hook, impls)
        ]


class HookTimeout(TimeoutError):
    """An implementation ran past its hook's timeout."""


@dataclass(slots=True)
class HookResult:
    """One implementation's non-``None`` return value, with the plugin that produced it."""

    plugin: str
    value: Any


@dataclass(slots=True)
class HookFailure:
    """One implementation's exception (or timeout), with the plugin that raised it."""

    plugin: str
    error: Exception

    @property
    def timed_out(self) -> bool:
        """Whether the failure is a timeout rather than an exception the plugin raised."""
        return isinstance(self.error, HookTimeout)


class Outcome:
    """What ``host.call_hook`` gathered: results and failures, each carrying its plugin's name."""

    __slots__ = ("_pairs", "_results", "failures", "hook")

    def __init__(
        self,
        hook: str,
        results: list[HookResult] | None = None,
        failures: list[HookFailure] | None = None,
    ) -> None:
        self.hook = hook
        self._pairs: list[tuple[str, Any]] = []
        self._results = results
        self.failures: list[HookFailure] = failures if failures is not None else []

    @property
    def results(self) -> list[HookResult]:
        """Each non-``None`` result with the plugin that returned it, in call order."""
        if self._results is None:
            self._results = [HookResult(plugin, value) for plugin, value in self._pairs]
        return self._results

    @property
    def values(self) -> list[Any]:
        """The results' values, in call order."""
        if self._results is None:
            return [value for _, value in self._pairs]
        return [result.value for result in self._results]

    @property
    def first(self) -> Any | None:
        """The first result's value, or ``None``."""
        if self._results is None:
            return self._pairs[0][1] if self._pairs else None
        return self._results[0].value if self._results else None

    @property
    def ok(self) -> bool:
        """Whether no implementation failed."""
        return not self.failures

    def __repr__(self) -> str:
        return f"Outcome(hook={self.hook!r}, results={self.results!r}, failures={self.failures!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        return (self.hook, self.results, self.failures) == (
            other.hook,
            other.results,
            other.failures,
        )

    __hash__ = None  # type: ignore[assignment]


class _Step(NamedTuple):
    function: Any
    plugin: str
    stats: PluginStats
    takes_all: bool
    argnames: tuple[str, ...]


# Results of these exact types are never awaitable, so ``inspect.isawaitable`` is skipped.
_PLAIN = frozenset({int, float, str, bytes, bool, list, tuple, dict, set, frozenset})


def _no_arguments(kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return ()


def _policy_of(caller: pluggy.HookCaller) -> HookPolicy:
    spec = caller.spec
    if spec is None:
        return DEFAULT_POLICY
    found = getattr(spec.function, POLICY_ATTR, None)
    return found if isinstance(found, HookPolicy) else DEFAULT_POLICY


def wrapper_problem(caller: pluggy.HookCaller) -> str | None:
    """Why ``acall`` cannot dispatch this hook's implementations, or ``None`` if it can."""
    for impl in caller.get_hookimpls():
        if impl.wrapper or impl.hookwrapper:
            kind = "wrapper=True" if impl.wrapper else "hookwrapper=True"
            return (
                f"plugin {impl.plugin_name!r} implements {caller.name} with {kind}, but "
                f"{caller.name} is dispatched by host.call_hook, which calls implementations "
                "one at a time and does not run wrappers; use tryfirst/trylast, or a plain "
                "implementation"
            )
    return None


def _log_failure(plugin: str, hook: str, error: Exception) -> None:
    from ._config import ConfigError

    # A timeout has no useful stack; a ConfigError's message already names the file and
    # the key, and a traceback would only bury it.
    plain = isinstance(error, HookTimeout | ConfigError)
    logger.error(
        "plugin %r failed in %s: %s: %s",
        plugin,
        hook,
        type(error).__name__,
        error,
        exc_info=None if plain else error,
        extra={"plugin": plugin},
    )


class _Plan:
    """One hook's call plan, built once per change of its implementations: the steps in
    call order, the argument names, the policy, and the loop that runs them."""

    __slots__ = ("argnames", "hook", "needed", "policy", "positional", "steps")

    def __init__(
        self, hook: str, steps: tuple[_Step, ...], argnames: frozenset[str], policy: HookPolicy
    ) -> None:
        self.hook = hook
        self.steps = steps
        self.argnames = argnames
        self.needed = frozenset(arg for step in steps for arg in step.argnames)
        self.policy = policy
        # When every implementation takes all of the hook's arguments in the same order (the
        # usual case), a full call gathers them once and passes them by position.
        orders = {step.argnames for step in steps}
        shared = orders.pop() if len(orders) == 1 else None
        self.positional: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
        if shared is not None and frozenset(shared) == argnames:
            if not shared:
                self.positional = _no_arguments
            elif len(shared) == 1:
                (only,) = shared
                self.positional = lambda kwargs: (kwargs[only],)
            else:
                self.positional = itemgetter(*shared)

    def check(self, kwargs: Mapping[str, Any]) -> None:
        """Raise ``TypeError`` for an argument the hook does not take or a plugin misses."""
        keys = frozenset(kwargs)
        name, argnames = self.hook, self.argnames
        if argnames and not argnames.issuperset(keys):
            unknown = sorted(keys - argnames)
            raise TypeError(
                f"hook {name} has no argument {unknown[0]!r}; it takes "
                + ", ".join(sorted(argnames))
            )
        if not self.needed.issubset(keys):
            missing = sorted(self.needed - keys)
            users = [s.plugin for s in self.steps if missing[0] in s.argnames]
            raise TypeError(
                f"hook {name}: argument {missing[0]!r} is needed by plugin {users[0]!r} but "
                "the call did not pass it"
            )

    async def run(
        self, kwargs: Mapping[str, Any], full: bool, chosen: HookPolicy, timeout: float
    ) -> Outcome:
        """Call every step in order under ``chosen``; one ``try`` around the loop, which
        resumes at the next step after a failure."""
        name = self.hook
        outcome = Outcome(name)
        pairs = outcome._pairs
        stop_at_first = chosen.result is ResultMode.FIRST
        clock = time.perf_counter
        remaining = iter(self.steps)
        args = self.positional(kwargs) if full and self.positional is not None else None
        last = clock()
        while True:
            try:
                for function, plugin, stats, takes_all, argnames in remaining:
                    if args is not None:
                        value = function(*args)
                    elif full and takes_all:
                        value = function(**kwargs)
                    else:
                        value = function(**{a: kwargs[a] for a in argnames})
                    if value is not None and type(value) not in _PLAIN and isawaitable(value):
                        value = await _bounded(value, timeout, plugin, name)
                        now = clock()
                    else:
                        now = clock()
                        if now - last > timeout:
                            raise HookTimeout(
                                f"plugin {plugin!r} blocked the event loop in {name} for "
                                f"{now - last:.3f}s (timeout {timeout:g}s); its result was "
                                "discarded"
                            )
                    stats.calls += 1
                    stats.time_spent += now - last
                    last = now
                    if value is not None:
                        pairs.append((plugin, value))
                        if stop_at_first:
                            break
                break
            except Exception as exc:
                # ``remaining`` resumes at the implementation after the one that failed.
                now = clock()
                stats.calls += 1
                stats.time_spent += now - last
                last = now
                if isinstance(exc, HookTimeout):
                    stats.timeouts += 1
                else:
                    stats.errors += 1
                exc.add_note(f"in plugin {plugin!r}, hook {name}")
                outcome.failures.append(HookFailure(plugin, exc))
                if chosen.errors is ErrorMode.RAISE:
                    raise
                if chosen.errors is ErrorMode.ISOLATE:
                    _log_failure(plugin, name, exc)
        if outcome.failures and chosen.errors is ErrorMode.COLLECT:
            raise ExceptionGroup(
                f"{len(outcome.failures)} implementation(s) of {name} failed",
                [failure.error for failure in outcome.failures],
            )
        return outcome


class Dispatcher:
    """Builds one call plan per hook when its implementations change, and runs it under
    the hook's policy."""

    __slots__ = ("_plans", "default_timeout", "pm", "stats")

    def __init__(self, pm: PluginManager, stats: Stats, default_timeout: float) -> None:
        self.pm = pm
        self.stats = stats
        self.default_timeout = default_timeout
        self._plans: dict[str, _Plan] = {}
        pm.on_change(self._plans.clear)

    def plan(self, name: str) -> _Plan:
        """The call plan for ``name``: implementations in call order."""
        plan = self._plans.get(name)
        if plan is not None:
            return plan
        caller = getattr(self.pm.hook, name, None)
        if not isinstance(caller, pluggy.HookCaller):
            raise AttributeError(f"no hook named {name!r}")
        problem = wrapper_problem(caller)
        if problem is not None:
            raise TypeError(problem)
        argnames = frozenset(caller.spec.argnames) if caller.spec is not None else frozenset()
        steps = tuple(
            _Step(
                impl.function,
                impl.plugin_name,
                self.stats[impl.plugin_name],
                frozenset(impl.argnames) == argnames,
                tuple(impl.argnames),
            )
            for impl in reversed(caller.get_hookimpls())
        )
        plan = _Plan(name, steps, argnames, _policy_of(caller))
        self._plans[name] = plan
        return plan

    def has_implementations(self, name: str) -> bool:
        """Whether any plugin implements ``name`` (cheap: uses the cached plan)."""
        return bool(self.plan(name).steps)

    def acall(
        self, name: str, kwargs: Mapping[str, Any], policy: HookPolicy | None = None
    ) -> Coroutine[Any, Any, Outcome]:
        """Check the call now, then return the coroutine that runs every implementation."""
        plan = self._plans.get(name) or self.plan(name)
        # The usual call passes exactly the specification's arguments, which every
        # implementation's were checked against at registration.
        full = kwargs.keys() == plan.argnames
        if not full:
            plan.check(kwargs)
        chosen = policy or plan.policy
        timeout = chosen.timeout if chosen.timeout is not None else self.default_timeout
        return plan.run(kwargs, full, chosen, timeout)


async def _bounded(value: Awaitable[Any], timeout: float, plugin: str, hook: str) -> Any:
    try:
        async with asyncio.timeout(timeout):
            return await value
    except TimeoutError:
        raise HookTimeout(f"plugin {plugin!r} did not finish {hook} within {timeout:g}s") from None


def _has_policy(caller: pluggy.HookCaller) -> bool:
    return caller.spec is not None and hasattr(caller.spec.function, POLICY_ATTR)


def hook_problem(pm: pluggy.PluginManager, obj: object) -> str | None:
    """Why ``obj``'s hook implementations cannot be dispatched, or ``None``: an unknown hook
    (not marked optional), or a wrapper on a hook that has a call policy."""
    from plugyard.sdk import did_you_mean

    for caller in pm.get_hookcallers(obj) or ():
        if caller.spec is None:
            impls = [i for i in caller.get_hookimpls() if i.plugin is obj]
            if any(not i.optionalhook for i in impls):
                known = [
                    n
                    for n in dir(pm.hook)
                    if not n.startswith("_") and getattr(pm.hook, n).spec is not None
                ]
                return f"unknown hook {caller.name!r}" + did_you_mean(caller.name, known)
        elif _has_policy(caller):
            problem = wrapper_problem(caller)
            if problem is not None:
                return problem
    return None


def register(pm: pluggy.PluginManager, name: str, obj: object, *, vet: bool = True) -> str | None:
    """Register ``obj`` with pluggy under ``name`` and vet its hooks; returns why it was
    refused (and leaves it unregistered), or ``None``. The hook spec version it declares,
    and the hooks it implements, are checked first (see :func:`~plugyard.host.versioned`)."""
    problem = version_problem(pm, name, obj)
    if problem is not None:
        return problem
    try:
        if pm.register(obj, name=name) is None:
            return "blocked"
    except Exception as exc:
        return f"cannot register: {exc}"
    if vet:
        problem = hook_problem(pm, obj)
        if problem is not None:
            pm.unregister(obj)
            return problem
    warn_once(pm, name, obj)
    return None


def hooks_of(pm: pluggy.PluginManager, obj: object) -> tuple[str, ...]:
    """The names of the hooks ``obj`` implements, sorted."""
    return tuple(sorted(c.name for c in pm.get_hookcallers(obj) or ()))

"""``host.call_hook``: policy-driven async dispatch of a hook, results attributed to plugins."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ._policy import DEFAULT_POLICY, POLICY_ATTR, ErrorMode, HookPolicy, ResultMode
from ._stats import PluginStats, Stats

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
    """pluggy's manager, counting registrations so dispatch plans can be cached safely."""

    generation: int = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register as pluggy does; dispatch plans are rebuilt on the next call."""
        self.generation += 1
        try:
            return super().register(plugin, name)
        finally:
            self.generation += 1

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Unregister as pluggy does; dispatch plans are rebuilt on the next call."""
        self.generation += 1
        return super().unregister(plugin, name)


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


@dataclass(slots=True)
class Outcome:
    """What ``host.call_hook`` gathered: results and failures, each carrying its plugin's name."""

    hook: str
    results: list[HookResult] = field(default_factory=list)
    failures: list[HookFailure] = field(default_factory=list)

    @property
    def values(self) -> list[Any]:
        """The results' values, in call order."""
        return [result.value for result in self.results]

    @property
    def first(self) -> Any | None:
        """The first result's value, or ``None``."""
        return self.results[0].value if self.results else None

    @property
    def ok(self) -> bool:
        """Whether no implementation failed."""
        return not self.failures


@dataclass(frozen=True, slots=True)
class _Step:
    plugin: str
    function: Any
    argnames: tuple[str, ...]
    stats: PluginStats


@dataclass(frozen=True, slots=True)
class _Plan:
    generation: int
    steps: tuple[_Step, ...]
    argnames: frozenset[str]
    needed: frozenset[str]
    policy: HookPolicy


# Results of these exact types are never awaitable, so ``inspect.isawaitable`` is skipped.
_PLAIN = frozenset({int, float, str, bytes, bool, list, tuple, dict, set, frozenset})


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


class Dispatcher:
    """Builds and caches one call plan per hook and runs it under the hook's policy."""

    __slots__ = ("_plans", "default_timeout", "pm", "stats")

    def __init__(self, pm: PluginManager, stats: Stats, default_timeout: float) -> None:
        self.pm = pm
        self.stats = stats
        self.default_timeout = default_timeout
        self._plans: dict[str, _Plan] = {}

    def plan(self, name: str) -> _Plan:
        """The cached call plan for ``name``: implementations in pluggy's order."""
        plan = self._plans.get(name)
        if plan is not None and plan.generation == self.pm.generation:
            return plan
        caller = getattr(self.pm.hook, name, None)
        if not isinstance(caller, pluggy.HookCaller):
            raise AttributeError(f"no hook named {name!r}")
        problem = wrapper_problem(caller)
        if problem is not None:
            raise TypeError(problem)
        steps = tuple(
            _Step(
                impl.plugin_name,
                impl.function,
                tuple(impl.argnames),
                self.stats[impl.plugin_name],
            )
            for impl in reversed(caller.get_hookimpls())
        )
        argnames = frozenset(caller.spec.argnames) if caller.spec is not None else frozenset()
        needed = frozenset(arg for step in steps for arg in step.argnames)
        plan = _Plan(self.pm.generation, steps, argnames, needed, _policy_of(caller))
        self._plans[name] = plan
        return plan

    def has_implementations(self, name: str) -> bool:
        """Whether any plugin implements ``name`` (cheap: uses the cached plan)."""
        return bool(self.plan(name).steps)

    def _check_arguments(self, name: str, plan: _Plan, kwargs: Mapping[str, Any]) -> None:
        if plan.argnames and not plan.argnames.issuperset(kwargs):
            unknown = sorted(set(kwargs) - plan.argnames)
            raise TypeError(
                f"hook {name} has no argument {unknown[0]!r}; it takes "
                + ", ".join(sorted(plan.argnames))
            )
        if not plan.needed.issubset(kwargs):
            missing = sorted(plan.needed - set(kwargs))
            users = [s.plugin for s in plan.steps if missing[0] in s.argnames]
            raise TypeError(
                f"hook {name}: argument {missing[0]!r} is needed by plugin {users[0]!r} but "
                "the call did not pass it"
            )

    def acall(
        self, name: str, kwargs: Mapping[str, Any], policy: HookPolicy | None = None
    ) -> Coroutine[Any, Any, Outcome]:
        """Check the call now, then return the coroutine that runs every implementation."""
        plan = self.plan(name)
        self._check_arguments(name, plan, kwargs)
        return self._run(name, plan, kwargs, policy or plan.policy)

    async def _run(
        self, name: str, plan: _Plan, kwargs: Mapping[str, Any], chosen: HookPolicy
    ) -> Outcome:
        timeout = chosen.timeout if chosen.timeout is not None else self.default_timeout
        outcome = Outcome(name)
        stop_at_first = chosen.result is ResultMode.FIRST
        names = tuple(kwargs)
        clock = time.perf_counter
        for step in plan.steps:
            args = kwargs if step.argnames == names else {a: kwargs[a] for a in step.argnames}
            stats = step.stats
            stats.calls += 1
            started = clock()
            try:
                value = step.function(**args)
                if value is not None and type(value) not in _PLAIN and inspect.isawaitable(value):
                    value = await _bounded(value, timeout, step.plugin, name)
                    elapsed = clock() - started
                else:
                    elapsed = clock() - started
                    if elapsed > timeout:
                        raise HookTimeout(
                            f"plugin {step.plugin!r} blocked the event loop in {name} for "
                            f"{elapsed:.3f}s (timeout {timeout:g}s); its result was discarded"
                        )
            except Exception as exc:
                stats.time_spent += clock() - started
                if isinstance(exc, HookTimeout):
                    stats.timeouts += 1
                else:
                    stats.errors += 1
                exc.add_note(f"in plugin {step.plugin!r}, hook {name}")
                outcome.failures.append(HookFailure(step.plugin, exc))
                if chosen.errors is ErrorMode.RAISE:
                    raise
                if chosen.errors is ErrorMode.ISOLATE:
                    _log_failure(step.plugin, name, exc)
                continue
            stats.time_spent += elapsed
            if value is not None:
                outcome.results.append(HookResult(step.plugin, value))
                if stop_at_first:
                    break
        if outcome.failures and chosen.errors is ErrorMode.COLLECT:
            raise ExceptionGroup(
                f"{len(outcome.failures)} implementation(s) of {name} failed",
                [failure.error for failure in outcome.failures],
            )
        return outcome


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
    refused (and leaves it unregistered), or ``None``."""
    try:
        if pm.register(obj, name=name) is None:
            return "blocked"
    except Exception as exc:
        return f"cannot register: {exc}"
    if not vet:
        return None
    problem = hook_problem(pm, obj)
    if problem is not None:
        pm.unregister(obj)
    return problem


def hooks_of(pm: pluggy.PluginManager, obj: object) -> tuple[str, ...]:
    """The names of the hooks ``obj`` implements, sorted."""
    return tuple(sorted(c.name for c in pm.get_hookcallers(obj) or ()))

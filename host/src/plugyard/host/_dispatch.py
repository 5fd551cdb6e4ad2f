"""``host.acall``: policy-driven async dispatch of a hook, with results attributed to plugins."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ._policy import DEFAULT_POLICY, POLICY_ATTR, ErrorMode, HookPolicy, ResultMode
from ._stats import Stats

__all__ = ["HookFailure", "HookResult", "HookTimeout", "Outcome", "PluginManager"]

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


@dataclass(frozen=True, slots=True)
class HookResult:
    """One implementation's non-``None`` return value, with the plugin that produced it."""

    plugin: str
    value: Any


@dataclass(frozen=True, slots=True)
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
    """What ``host.acall`` gathered: results and failures, each carrying its plugin's name."""

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


@dataclass(frozen=True, slots=True)
class _Plan:
    generation: int
    steps: tuple[_Step, ...]
    argnames: frozenset[str]
    policy: HookPolicy


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
                f"{caller.name} is dispatched by host.acall, which calls implementations one at "
                "a time and does not run wrappers; use tryfirst/trylast, or a plain "
                "implementation"
            )
    return None


def _log_failure(plugin: str, hook: str, error: Exception) -> None:
    logger.error(
        "plugin %r failed in %s: %s: %s",
        plugin,
        hook,
        type(error).__name__,
        error,
        exc_info=None if isinstance(error, HookTimeout) else error,
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
            _Step(impl.plugin_name, impl.function, tuple(impl.argnames))
            for impl in reversed(caller.get_hookimpls())
        )
        argnames = frozenset(caller.spec.argnames) if caller.spec is not None else frozenset()
        plan = _Plan(self.pm.generation, steps, argnames, _policy_of(caller))
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

    async def acall(
        self, name: str, kwargs: Mapping[str, Any], policy: HookPolicy | None = None
    ) -> Outcome:
        """Call every implementation of ``name`` one at a time under its policy."""
        plan = self.plan(name)
        self._check_arguments(name, plan, kwargs)
        chosen = policy or plan.policy
        timeout = chosen.timeout if chosen.timeout is not None else self.default_timeout
        outcome = Outcome(name)
        stop_at_first = chosen.result is ResultMode.FIRST
        for step in plan.steps:
            try:
                args = {arg: kwargs[arg] for arg in step.argnames}
            except KeyError as exc:
                raise TypeError(
                    f"hook {name}: plugin {step.plugin!r} needs argument {exc.args[0]!r}, "
                    "which the call did not pass"
                ) from None
            value, error = await self._run_step(step, args, timeout, name)
            if error is not None:
                outcome.failures.append(HookFailure(step.plugin, error))
                if chosen.errors is ErrorMode.RAISE:
                    raise error
                if chosen.errors is ErrorMode.ISOLATE:
                    _log_failure(step.plugin, name, error)
                continue
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

    async def _run_step(
        self, step: _Step, args: dict[str, Any], timeout: float, hook: str
    ) -> tuple[Any, Exception | None]:
        stats = self.stats[step.plugin]
        stats.calls += 1
        started = time.perf_counter()
        try:
            value = step.function(**args)
            if value is not None and inspect.isawaitable(value):
                try:
                    async with asyncio.timeout(timeout):
                        value = await value
                except TimeoutError:
                    raise HookTimeout(
                        f"plugin {step.plugin!r} did not finish {hook} within {timeout:g}s"
                    ) from None
            elif time.perf_counter() - started > timeout:
                raise HookTimeout(
                    f"plugin {step.plugin!r} blocked the event loop in {hook} for "
                    f"{time.perf_counter() - started:.3f}s (timeout {timeout:g}s); "
                    "its result was discarded"
                )
        except Exception as exc:
            stats.time_spent += time.perf_counter() - started
            if isinstance(exc, HookTimeout):
                stats.timeouts += 1
            else:
                stats.errors += 1
            exc.add_note(f"in plugin {step.plugin!r}, hook {hook}")
            return None, exc
        stats.time_spent += time.perf_counter() - started
        return value, None

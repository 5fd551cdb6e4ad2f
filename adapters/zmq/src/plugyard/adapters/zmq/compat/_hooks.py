"""Watcher hooks as circus defines them: dotted callables run at points of a watcher's life.

``hooks.before_start = pkg.mod.func`` (or ``pkg.mod.func, true`` to ignore its failures) in a
``[watcher:NAME]`` section; the callable is called with ``watcher``, ``arbiter`` and
``hook_name`` keywords, plus the hook's own (``pid``, ``signum``, ``stats``). A ``before_*``
or ``after_*`` hook that returns a false value stops what it guards, as in circus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plugyard.host import PluginLoadError, import_target

from ._options import OptionError, to_bool

__all__ = ["HOOK_NAMES", "Hook", "HookRefused", "parse_hooks"]

HOOK_NAMES = (
    "before_start",
    "after_start",
    "before_stop",
    "after_stop",
    "before_spawn",
    "after_spawn",
    "before_signal",
    "after_signal",
    "before_reap",
    "after_reap",
    "extended_stats",
)
_ALWAYS_IGNORED = frozenset(
    {"before_stop", "after_stop", "before_signal", "after_signal", "extended_stats"}
)


class HookRefused(RuntimeError):
    """A hook returned a false value (or failed), so the step it guards did not happen."""


@dataclass(frozen=True, slots=True)
class Hook:
    """One resolved hook: its name, where it comes from, the callable and its failure rule."""

    name: str
    target: str
    func: Callable[..., Any]
    ignore_failure: bool

    def failure_result(self) -> bool:
        """What a failing hook counts as: success when its failures are ignored."""
        return self.ignore_failure or self.name in _ALWAYS_IGNORED


def parse_hooks(hooks: dict[str, str]) -> dict[str, Hook]:
    """Resolve ``{hook name: "pkg.mod.func[, ignore_failure]"}``; errors name the hook."""
    found: dict[str, Hook] = {}
    for name, value in hooks.items():
        key = f"hooks.{name}"
        if name not in HOOK_NAMES:
            raise OptionError(f"{key}: unknown hook (expected one of {', '.join(HOOK_NAMES)})")
        target, _, flag = str(value).partition(",")
        target = target.strip()
        if not target:
            raise OptionError(f"{key}: expected a dotted callable such as pkg.module.function")
        ignore = to_bool(flag.strip(), key) if flag.strip() else False
        try:
            func = import_target(target, where=key)
        except PluginLoadError as exc:
            raise OptionError(str(exc)) from None
        if not callable(func):
            raise OptionError(f"{key}: {target!r} is not callable")
        found[name] = Hook(name, target, func, ignore)
    return found

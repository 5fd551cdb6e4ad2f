"""Call policies: how ``host.call_hook`` dispatches a hook, declared on its specification."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

import pluggy

from plugyard.sdk import PROJECT_NAME

__all__ = ["POLICY_ATTR", "ErrorMode", "HookPolicy", "ResultMode", "hookspec", "policy"]

POLICY_ATTR: Final = "plugyard_policy"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function as a plugyard hook specification (pluggy's options apply)."""

_F = TypeVar("_F", bound=Callable[..., Any])


class ErrorMode(StrEnum):
    """What ``host.call_hook`` does when an implementation raises or times out.

    ``raise`` stops at the first failure and raises it (pluggy's own behaviour);
    ``collect`` calls every implementation, then raises an ``ExceptionGroup`` of the failures;
    ``isolate`` records and logs each failure against its plugin and goes on.
    """

    RAISE = "raise"
    COLLECT = "collect"
    ISOLATE = "isolate"


class ResultMode(StrEnum):
    """Whether ``host.call_hook`` calls every implementation or stops at the first non-``None``."""

    ALL = "all"
    FIRST = "first"


@dataclass(frozen=True, slots=True)
class HookPolicy:
    """How ``host.call_hook`` dispatches one hook.

    ``timeout`` is per implementation, in seconds (``None``: the host's ``hook_timeout``);
    an awaitable that overruns it is cancelled; a plain function cannot be interrupted, so
    an overrun is recorded as a timeout after it returns and its result is discarded.
    """

    timeout: float | None = None
    errors: ErrorMode = ErrorMode.RAISE
    result: ResultMode = ResultMode.ALL

    def describe(self) -> str:
        """A short human form, as ``plugyard hooks`` prints it."""
        timeout = "host default" if self.timeout is None else f"{self.timeout:g}s"
        return f"errors={self.errors}, result={self.result}, timeout={timeout}"


DEFAULT_POLICY: Final = HookPolicy()


def policy(
    *,
    timeout: float | None = None,
    errors: ErrorMode | str = ErrorMode.RAISE,
    result: ResultMode | str = ResultMode.ALL,
) -> Callable[[_F], _F]:
    """Declare a hook specification's call policy for ``host.call_hook``.

    Put it on a hook specification next to ``@hookspec``; plain ``host.hook.NAME(...)`` calls
    ignore it and keep pluggy's semantics.
    """
    chosen = HookPolicy(timeout=timeout, errors=ErrorMode(errors), result=ResultMode(result))
    if timeout is not None and timeout <= 0:
        raise ValueError(f"policy timeout must be positive, got {timeout!r}")

    def mark(func: _F) -> _F:
        setattr(func, POLICY_ATTR, chosen)
        return func

    return mark

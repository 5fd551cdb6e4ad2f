"""PluginRun statuses and the one table of transitions between them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL", "TRANSITIONS", "InvalidTransition", "RunStatus", "check_transition"]


class RunStatus(StrEnum):
    """Where a PluginRun is; stored as the run's ``status`` property."""

    CREATED = "created"
    INITIALIZED = "initialized"
    STARTED = "started"
    USER_ACTION_NEEDED = "user_action_needed"
    READY = "ready"
    DONE = "done"
    ERROR = "error"
    ABORTED = "aborted"
    DAEMON = "daemon"


_S = RunStatus
_ENDS = frozenset({_S.DONE, _S.ERROR, _S.ABORTED})

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    _S.CREATED: frozenset({_S.INITIALIZED, _S.STARTED}) | _ENDS - {_S.DONE},
    _S.INITIALIZED: frozenset({_S.STARTED}) | _ENDS - {_S.DONE},
    _S.STARTED: frozenset({_S.USER_ACTION_NEEDED, _S.DAEMON}) | _ENDS,
    _S.USER_ACTION_NEEDED: frozenset({_S.READY}) | _ENDS - {_S.DONE},
    _S.READY: frozenset({_S.STARTED, _S.USER_ACTION_NEEDED, _S.DAEMON}) | _ENDS,
    _S.DAEMON: frozenset({_S.USER_ACTION_NEEDED}) | _ENDS,
    _S.DONE: frozenset(),
    _S.ERROR: frozenset(),
    _S.ABORTED: frozenset(),
}
"""Every allowed status change: ``TRANSITIONS[old]`` is the set of statuses ``old`` may become.

A run is created, initialised by its plugin's constructor, started, may ask a person for
credentials (``user_action_needed`` until an operator makes it ``ready``), and ends ``done``,
``error`` or ``aborted``; a daemon plugin stays ``daemon`` until it is stopped.
"""

TERMINAL: frozenset[RunStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
"""Statuses a run never leaves: ``done``, ``error`` and ``aborted``."""


class InvalidTransition(ValueError):
    """A status change the transition table does not allow."""


def check_transition(old: str, new: str) -> RunStatus:
    """Return ``new`` as a :class:`RunStatus` if ``old -> new`` is allowed, else raise.

    The error names both statuses and lists what ``old`` may become.
    """
    try:
        target = RunStatus(new)
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidTransition(f"unknown status {new!r} (statuses: {known})") from None
    source = RunStatus(old)
    allowed = TRANSITIONS[source]
    if target not in allowed:
        choices = ", ".join(sorted(s.value for s in allowed)) or "nothing: it is final"
        raise InvalidTransition(
            f"a run cannot go from {source.value!r} to {target.value!r} (allowed: {choices})"
        )
    return target

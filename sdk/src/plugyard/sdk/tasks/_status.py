"""Job status: the states a task's job goes through, and the one table of allowed moves."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum

__all__ = ["TERMINAL", "TRANSITIONS", "JobStatus", "can_transition", "next_status"]

logger = logging.getLogger("plugyard.sdk.tasks")


class JobStatus(StrEnum):
    """Where a task's job is. The value is the last part of its event topic
    (``task.<name>.<status>``); :attr:`code` is the number girder_worker used."""

    INACTIVE = "inactive"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    CANCELING = "canceling"
    CANCELED = "canceled"

    @property
    def code(self) -> int:
        """girder_worker's integer for this status (CANCELING is 824 there)."""
        return _CODES[self]

    @property
    def terminal(self) -> bool:
        """Whether nothing can follow this status."""
        return self in TERMINAL


_CODES = {
    JobStatus.INACTIVE: 0,
    JobStatus.QUEUED: 1,
    JobStatus.RUNNING: 2,
    JobStatus.SUCCESS: 3,
    JobStatus.ERROR: 4,
    JobStatus.CANCELED: 5,
    JobStatus.CANCELING: 824,
}

_S = JobStatus

TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    # A job nobody has seen yet may appear in any live state (the worker's RUNNING can land
    # before the sender's QUEUED when they are different processes).
    _S.INACTIVE: frozenset(
        {_S.QUEUED, _S.RUNNING, _S.SUCCESS, _S.ERROR, _S.CANCELING, _S.CANCELED}
    ),
    _S.QUEUED: frozenset({_S.RUNNING, _S.SUCCESS, _S.ERROR, _S.CANCELING, _S.CANCELED}),
    # RUNNING -> RUNNING is a retry, or a redelivery after a worker died. Nothing goes back to
    # QUEUED: a sender's QUEUED that arrives after the worker's RUNNING is simply late.
    _S.RUNNING: frozenset({_S.RUNNING, _S.SUCCESS, _S.ERROR, _S.CANCELING, _S.CANCELED}),
    # A cancellation ends CANCELED, or ERROR when the task failed first.
    _S.CANCELING: frozenset({_S.CANCELED, _S.ERROR}),
    _S.SUCCESS: frozenset(),
    _S.ERROR: frozenset(),
    _S.CANCELED: frozenset(),
}
"""Every allowed move: ``TRANSITIONS[current]`` is the set of statuses that may follow."""

TERMINAL = frozenset(s for s, after in TRANSITIONS.items() if not after)
"""SUCCESS, ERROR and CANCELED: a job in one of these is finished."""


def can_transition(current: JobStatus | None, new: JobStatus) -> bool:
    """Whether ``new`` may follow ``current`` (``None`` means the job is unknown: INACTIVE)."""
    return new in TRANSITIONS[current or JobStatus.INACTIVE]


def next_status(
    current: JobStatus | None, new: JobStatus, *, task_id: str = "", quiet: bool = False
) -> JobStatus | None:
    """``new`` if the move is allowed, else ``None`` after logging why it was ignored.

    An impossible move (SUCCESS after CANCELED, say) is never an error: a task must not crash
    because its status report arrived late.
    """
    if can_transition(current, new):
        return new
    if not quiet:
        logger.info(
            "task %s: status %s after %s ignored (not an allowed transition)",
            task_id or "?",
            new,
            current,
        )
    return None

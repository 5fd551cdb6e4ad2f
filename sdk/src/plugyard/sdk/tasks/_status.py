"""Job status: the states a task's job goes through, and the one table of allowed moves."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "TRANSITIONS",
    "JobStatus",
    "can_transition",
    "next_status",
]

logger = logging.getLogger("plugyard.sdk.tasks")


class JobStatus(StrEnum):
    """Where a task's job is. The value is the last part of its event topic
    (``task.<name>.<status>``); :attr:`code` is the integer girder_worker and Girder use, and
    the names are theirs. The four transfer statuses (``FETCHING_INPUT`` ...
    ``PUSHING_OUTPUT``) are stages of a running task."""

    INACTIVE = "inactive"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    CANCELED = "canceled"
    FETCHING_INPUT = "fetching_input"
    CONVERTING_INPUT = "converting_input"
    CONVERTING_OUTPUT = "converting_output"
    PUSHING_OUTPUT = "pushing_output"
    CANCELING = "canceling"

    @property
    def code(self) -> int:
        """girder_worker's integer for this status (0-5, then 820-824)."""
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int | str) -> JobStatus:
        """The status of girder_worker's integer (``824`` or ``"824"``), or of a name or
        value (``"RUNNING"``, ``"running"``); ``ValueError`` names what was not understood."""
        if isinstance(code, str) and not code.strip().lstrip("-").isdigit():
            found = cls.__members__.get(code.strip().upper())
            if found is None:
                raise ValueError(f"not a job status: {code!r}")
            return found
        number = int(code)
        for status, value in _CODES.items():
            if value == number:
                return status
        raise ValueError(f"not a girder_worker job status code: {code!r}")

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
    JobStatus.FETCHING_INPUT: 820,
    JobStatus.CONVERTING_INPUT: 821,
    JobStatus.CONVERTING_OUTPUT: 822,
    JobStatus.PUSHING_OUTPUT: 823,
    JobStatus.CANCELING: 824,
}

_S = JobStatus

_ENDS = frozenset({_S.SUCCESS, _S.ERROR, _S.CANCELING, _S.CANCELED})

TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    # A job nobody has seen yet may appear in any live state (the worker's RUNNING can land
    # before the sender's QUEUED when they are different processes).
    _S.INACTIVE: frozenset(_S) - {_S.INACTIVE},
    _S.QUEUED: frozenset(_S) - {_S.INACTIVE, _S.QUEUED},
    # RUNNING -> RUNNING is a retry, or a redelivery after a worker died. Nothing goes back to
    # QUEUED: a sender's QUEUED that arrives after the worker's RUNNING is simply late.
    _S.RUNNING: _ENDS
    | {_S.RUNNING, _S.FETCHING_INPUT, _S.CONVERTING_INPUT, _S.CONVERTING_OUTPUT}
    | {_S.PUSHING_OUTPUT},
    # The transfer stages, in girder_worker's order: input is fetched, then converted, then
    # the task runs; its output is converted, then pushed. A stage may fail or be canceled.
    _S.FETCHING_INPUT: _ENDS - {_S.SUCCESS} | {_S.RUNNING, _S.CONVERTING_INPUT},
    _S.CONVERTING_INPUT: _ENDS - {_S.SUCCESS} | {_S.RUNNING},
    _S.CONVERTING_OUTPUT: _ENDS - {_S.SUCCESS} | {_S.PUSHING_OUTPUT},
    _S.PUSHING_OUTPUT: _ENDS,
    # A cancellation ends CANCELED, or ERROR when the task failed first: it never sticks.
    _S.CANCELING: frozenset({_S.CANCELED, _S.ERROR}),
    _S.SUCCESS: frozenset(),
    _S.ERROR: frozenset(),
    _S.CANCELED: frozenset(),
}
"""Every allowed move: ``TRANSITIONS[current]`` is the set of statuses that may follow."""

TERMINAL = frozenset(s for s, after in TRANSITIONS.items() if not after)
"""SUCCESS, ERROR and CANCELED: a job in one of these is finished."""

ACTIVE = frozenset(
    {
        _S.RUNNING,
        _S.FETCHING_INPUT,
        _S.CONVERTING_INPUT,
        _S.CONVERTING_OUTPUT,
        _S.PUSHING_OUTPUT,
    }
)
"""RUNNING and the four transfer stages: a worker runs the task (it can report progress,
and a cancellation makes it CANCELING)."""


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

"""The errors an operation raises to tell the workflow what to do next."""

from __future__ import annotations

import traceback as _traceback
from types import TracebackType
from typing import TypedDict

__all__ = [
    "ErrorCause",
    "NonRecoverableError",
    "NotInContext",
    "OperationRetry",
    "RecoverableError",
    "VersionConflict",
    "WorkflowFailed",
    "exception_to_error_cause",
]


class ErrorCause(TypedDict):
    """One underlying cause of a failure: what :func:`exception_to_error_cause` returns."""

    message: str
    type: str
    traceback: str


class NonRecoverableError(Exception):
    """A failure no retry can fix: the operation is not retried and the workflow fails.

    ``causes`` keeps the errors that led to this one (see :func:`exception_to_error_cause`).
    """

    def __init__(self, *args: object, causes: list[ErrorCause] | None = None) -> None:
        super().__init__(*args)
        self.causes: list[ErrorCause] = list(causes or [])


class RecoverableError(Exception):
    """A failure worth retrying, after ``retry_after`` seconds if given.

    Any exception that is not a :class:`NonRecoverableError` is treated as recoverable.
    """

    def __init__(
        self,
        message: str = "",
        retry_after: float | None = None,
        causes: list[ErrorCause] | None = None,
    ) -> None:
        if retry_after is not None:
            message = f"{message} [retry_after={retry_after}]"
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.causes: list[ErrorCause] = list(causes or [])


class OperationRetry(RecoverableError):
    """The operation asked to run again (``ctx.operation.retry(...)``); counts as a retry."""


class NotInContext(RuntimeError):
    """``ctx`` was used outside an operation (and no context was set with ``current_ctx``)."""


class VersionConflict(Exception):
    """Runtime properties changed in storage since they were read (optimistic concurrency)."""

    def __init__(self, instance_id: str, expected: int, actual: int | None) -> None:
        super().__init__(
            f"node instance {instance_id!r}: runtime properties are at version {actual}, "
            f"not {expected}"
        )
        self.instance_id = instance_id
        self.expected = expected
        self.actual = actual


class WorkflowFailed(Exception):
    """A workflow ended in failure; ``causes`` holds the failing operation's error chain."""

    def __init__(
        self,
        message: str,
        causes: list[ErrorCause] | None = None,
        *,
        execution_id: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.causes: list[ErrorCause] = list(causes or [])
        self.execution_id = execution_id
        self.error_type = error_type


def exception_to_error_cause(
    exception: BaseException | None, tb: TracebackType | None
) -> ErrorCause:
    """``{message, type, traceback}`` for an exception, to pass as one of ``causes``."""
    if exception is None:
        return {"message": "", "type": "NoneType", "traceback": ""}
    text = "".join(_traceback.format_exception(type(exception), exception, tb))
    return {"message": str(exception), "type": type(exception).__name__, "traceback": text}

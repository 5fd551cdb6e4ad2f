"""Errors a pod answers with; the same classes on both sides of every transport."""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "ItemNotFound",
    "PodError",
    "PodUnavailable",
    "Unauthorized",
    "error_for_status",
]


class PodError(Exception):
    """A request the pod refused; ``status`` is the HTTP status the refusal travels with."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(PodError, ValueError):
    """The request is malformed or breaks the schema; the message names the field."""

    status = 400


class Unauthorized(PodError):
    """No token, or a token the pod does not know (revoked when its run ended)."""

    status = 401


class Forbidden(PodError, PermissionError):
    """The token is valid but does not reach this item or operation."""

    status = 403


class ItemNotFound(PodError, LookupError):
    """No item (or run) with that id."""

    status = 404


class Conflict(PodError):
    """The request clashes with what is stored (an id taken, a status change not allowed)."""

    status = 409


class PodUnavailable(PodError, ConnectionError):
    """The pod could not be reached at all."""

    status = 503


_BY_STATUS: dict[int, type[PodError]] = {
    cls.status: cls for cls in (BadRequest, Unauthorized, Forbidden, ItemNotFound, Conflict)
}


def error_for_status(status: int, message: str) -> PodError:
    """The exception for an HTTP error answer (``PodError`` for statuses without a class)."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(message)
    if 400 <= status < 500:
        return BadRequest(f"HTTP {status}: {message}")
    return PodError(f"HTTP {status}: {message}")

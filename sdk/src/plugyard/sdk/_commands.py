r"""Commands: the contract between whoever contributes a command and the host that runs it.

A plugin or adapter returns :class:`Command` objects from ``plugyard_commands``; the host's
command plane validates each call's properties against the command's :class:`Param` entries and
answers failures with a :class:`CommandError`. These live in the SDK so that a plugin made of
hook implementations depends on ``plugyard-sdk`` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = ["Command", "CommandError", "Errno", "Param"]


class Errno(IntEnum):
    """Error numbers of command replies; the same meanings as circus's."""

    NOT_SPECIFIED = 0
    INVALID_JSON = 1
    UNKNOWN_COMMAND = 2
    MESSAGE_ERROR = 3
    OS_ERROR = 4
    COMMAND_ERROR = 5
    BAD_MSG_DATA_ERROR = 6


class CommandError(Exception):
    """A command could not be carried out; ``errno`` says what kind of failure it was."""

    def __init__(
        self, reason: str, errno: Errno = Errno.COMMAND_ERROR, *, tb: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errno = Errno(errno)
        self.tb = tb

    def to_dict(self) -> dict[str, Any]:
        """The error as the body of an error reply."""
        return {"status": "error", "reason": self.reason, "errno": int(self.errno), "tb": self.tb}


_TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list",
    dict: "object",
}


@dataclass(frozen=True, slots=True)
class Param:
    """One property a command accepts: its type, whether it is required, its default."""

    type: type | tuple[type, ...] = str
    required: bool = False
    default: Any = None
    help: str = ""

    @property
    def type_name(self) -> str:
        """The expected type, in words."""
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        return " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in kinds)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has the right type (an int is a number; a bool is not an int)."""
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        if isinstance(value, bool) and bool not in kinds:
            return False
        if float in kinds and isinstance(value, int):
            return True
        return isinstance(value, kinds)


@dataclass(frozen=True, slots=True)
class Command:
    """A named operation on the host, reachable in process, over ZMQ and from the CLI.

    ``handler(**props)`` may be plain or ``async``; it returns a dict (the reply's fields) or a
    list (sent as ``{"results": [...]}``) and raises :class:`CommandError` for a failure the
    caller should see. Names follow ``<model>.<verb>`` (``lifecycle.install``); the
    built-in commands keep the circus wire names (``list``, ``status``, ``stats``).
    """

    name: str
    handler: Callable[..., Any]
    help: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)
    source: str = "host"
    aliases: tuple[str, ...] = ()
    """Older names that still reach this command, each with a deprecation warning."""
    loads_code: bool = False
    """The command makes the host run code its caller chooses (a blueprint's plugin source
    or scripts, a watcher's command line): the command socket refuses it from any client
    but the host's own user over ipc and holders of the host's local CURVE key."""

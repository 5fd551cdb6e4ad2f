"""The command plane: named commands contributed by the host and adapters, with typed params."""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ._config import did_you_mean

__all__ = ["Command", "CommandError", "CommandPlane", "Errno", "Param"]

logger = logging.getLogger("plugyard.host.commands")


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
    caller should see.
    """

    name: str
    handler: Callable[..., Any]
    help: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)
    source: str = "host"


@functools.lru_cache(maxsize=1024)
def _defaulted(handler: Callable[..., Any]) -> frozenset[str]:
    """The handler's parameters that have defaults of their own (left out when absent)."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p.name for p in parameters if p.default is not inspect.Parameter.empty)


class CommandPlane:
    """Every command the host and its adapters contribute, looked up case-insensitively."""

    __slots__ = ("_commands",)

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def add(self, command: Command) -> None:
        """Add a command; a name already taken is a ``ValueError`` naming both sources."""
        key = command.name.lower()
        taken = self._commands.get(key)
        if taken is not None:
            raise ValueError(
                f"command {command.name!r} from {command.source} is already provided by "
                f"{taken.source}"
            )
        self._commands[key] = command

    def remove_from(self, source: str) -> None:
        """Drop every command a source contributed."""
        for key in [k for k, c in self._commands.items() if c.source == source]:
            del self._commands[key]

    def get(self, name: str) -> Command:
        """The command called ``name`` (any case); unknown names raise ``UNKNOWN_COMMAND``."""
        if not isinstance(name, str):
            raise CommandError(f"command name must be a string, got {name!r}", Errno.MESSAGE_ERROR)
        found = self._commands.get(name.lower())
        if found is None:
            hint = did_you_mean(name.lower(), self._commands)
            raise CommandError(f"unknown command {name!r}{hint}", Errno.UNKNOWN_COMMAND)
        return found

    def list(self) -> list[Command]:
        """Every command, sorted by name."""
        return [self._commands[key] for key in sorted(self._commands)]

    def validate(self, command: Command, props: Mapping[str, Any]) -> dict[str, Any]:
        """Check properties against the command's params and fill in defaults."""
        if not isinstance(props, Mapping):
            raise CommandError(
                f"{command.name}: properties must be an object, got {type(props).__name__}",
                Errno.MESSAGE_ERROR,
            )
        unknown = [key for key in props if key not in command.params]
        if unknown:
            accepted = ", ".join(sorted(command.params)) or "none"
            raise CommandError(
                f"{command.name}: unknown property {unknown[0]!r} (accepted: {accepted})",
                Errno.MESSAGE_ERROR,
            )
        values: dict[str, Any] = {}
        for key, param in command.params.items():
            if key not in props or props[key] is None:
                if param.required:
                    raise CommandError(
                        f"{command.name}: property {key!r} is required ({param.type_name})",
                        Errno.MESSAGE_ERROR,
                    )
                if param.default is not None or key not in _defaulted(command.handler):
                    values[key] = param.default
                continue
            value = props[key]
            if not param.accepts(value):
                raise CommandError(
                    f"{command.name}: property {key!r} must be a {param.type_name}, "
                    f"got {type(value).__name__} {value!r}",
                    Errno.MESSAGE_ERROR,
                )
            values[key] = value
        return values

    async def call(self, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
        """Run a command and return its reply fields; failures raise :class:`CommandError`."""
        command = self.get(name)
        values = self.validate(command, props)
        try:
            result = command.handler(**values)
            if inspect.isawaitable(result):
                result = await result
        except CommandError:
            raise
        except Exception as exc:
            logger.warning("command %s failed: %s: %s", command.name, type(exc).__name__, exc)
            raise CommandError(
                f"{command.name} failed: {type(exc).__name__}: {exc}",
                Errno.OS_ERROR if isinstance(exc, OSError) else Errno.COMMAND_ERROR,
                tb=traceback.format_exc(),
            ) from exc
        if result is None:
            return {}
        if isinstance(result, list):
            return {"results": result}
        if not isinstance(result, dict):
            raise CommandError(
                f"{command.name} returned {type(result).__name__}; commands return a dict",
                Errno.COMMAND_ERROR,
            )
        return result

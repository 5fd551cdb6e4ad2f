"""The command plane: named commands contributed by the host and adapters, with typed params."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import traceback
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from plugyard.sdk import Command, CommandError, Errno, Param, did_you_mean

__all__ = ["Command", "CommandError", "CommandPlane", "Errno", "Param"]

logger = logging.getLogger("plugyard.host.commands")


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

    __slots__ = ("_aliases", "_commands", "_warned")

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._aliases: dict[str, Command] = {}
        self._warned: set[str] = set()

    def add(self, command: Command) -> None:
        """Add a command; a name already taken is a ``ValueError`` naming both sources.

        An old name (``aliases``) that another command already has is left to that command.
        """
        key = command.name.lower()
        taken = self._commands.get(key) or self._aliases.get(key)
        if taken is not None:
            raise ValueError(
                f"command {command.name!r} from {command.source} is already provided by "
                f"{taken.source}"
            )
        self._commands[key] = command
        self._aliases.pop(key, None)
        for alias in (a.lower() for a in command.aliases):
            if alias in self._commands or alias in self._aliases:
                logger.debug("old name %r of %s is taken; not an alias", alias, command.name)
                continue
            self._aliases[alias] = command

    def remove_from(self, source: str) -> None:
        """Drop every command a source contributed."""
        for table in (self._commands, self._aliases):
            for key in [k for k, c in table.items() if c.source == source]:
                del table[key]

    def contribute(self, source: str, commands: Any) -> None:
        """Add what ``source``'s ``plugyard_commands`` returned; anything that is not a
        :class:`Command`, or whose name is taken, is logged with both sources and skipped."""
        for command in commands or ():
            if not isinstance(command, Command):
                logger.error(
                    "plugin %r returned %r from plugyard_commands; expected Command",
                    source,
                    command,
                )
                continue
            if command.source == "host" and source != "plugyard.host":
                command = dataclasses.replace(command, source=source)
            try:
                self.add(command)
            except ValueError as exc:
                logger.error("%s", exc)

    def clear(self) -> None:
        """Drop every command."""
        self._commands.clear()
        self._aliases.clear()

    def get(self, name: str) -> Command:
        """The command called ``name`` (any case); unknown names raise ``UNKNOWN_COMMAND``."""
        if not isinstance(name, str):
            raise CommandError(f"command name must be a string, got {name!r}", Errno.MESSAGE_ERROR)
        key = name.lower()
        found = self._commands.get(key)
        if found is None:
            found = self._aliases.get(key)
            if found is None:
                hint = did_you_mean(key, self._commands)
                raise CommandError(f"unknown command {name!r}{hint}", Errno.UNKNOWN_COMMAND)
            self._deprecated(key, found)
        return found

    def _deprecated(self, alias: str, command: Command) -> None:
        message = f"command {alias!r} is deprecated; use {command.name!r}"
        warnings.warn(message, DeprecationWarning, stacklevel=4)
        if alias not in self._warned:
            self._warned.add(alias)
            logger.warning("%s", message)

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

"""A watcher's options with circus's names, defaults and conversions.

Options arrive as INI strings (a ``[watcher:NAME]`` section), as TOML values (a
``[watchers.NAME]`` table) or as JSON values (``add`` and ``set``); :func:`convert` turns each
into the type circus gives it, and :class:`WatcherOptions` holds the result.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KNOWN_OPTIONS",
    "OptionError",
    "WatcherOptions",
    "convert",
    "env_to_str",
    "parse_env",
    "to_bool",
    "to_signum",
]


class OptionError(ValueError):
    """An option has an unknown name or a value of the wrong shape."""


_TRUE = ("yes", "true", "on", "1")
_FALSE = ("no", "false", "off", "0")

_INTS = ("numprocesses", "max_retry", "max_age", "max_age_variance", "priority")
_FLOATS = ("warmup_delay", "graceful_timeout", "retry_in")
_BOOLS = (
    "send_hup",
    "stop_children",
    "shell",
    "copy_env",
    "copy_path",
    "respawn",
    "singleton",
    "autostart",
    "use_sockets",
    "on_demand",
    "close_child_stdin",
    "close_child_stdout",
    "close_child_stderr",
)
_STRINGS = ("cmd", "args", "working_dir", "uid", "gid", "executable", "shell_args")

KNOWN_OPTIONS = frozenset((*_INTS, *_FLOATS, *_BOOLS, *_STRINGS, "stop_signal", "env", "hooks"))
"""Option names a watcher understands; others (``flapping.attempts`` ...) are kept as they
are, for plugins that read them with ``options``."""


def to_bool(value: Any, key: str = "value") -> bool:
    """A boolean from ``True``, ``"yes"``, ``"off"``, ``1`` ..."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise OptionError(f"{key}: expected a boolean (true/false, yes/no, on/off), got {value!r}")


def to_signum(value: Any, key: str = "signal") -> int:
    """A signal number from ``15``, ``"15"``, ``"TERM"``, ``"SIGTERM"`` or ``"SIGRTMIN+1"``."""
    if isinstance(value, bool):
        raise OptionError(f"{key}: expected a signal number or name, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    match = re.fullmatch(r"(\w+?)(?:\+(\d+))?", text)
    if match:
        name = match.group(1).upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        number = getattr(signal, name, None)
        if isinstance(number, int):
            return int(number) + int(match.group(2) or 0)
    raise OptionError(f"{key}: {value!r} is not a signal (a number, TERM or SIGTERM)")


def parse_env(value: Any, key: str = "env") -> dict[str, str]:
    """``{"A": "1"}`` from ``"A=1, B=2"`` or a mapping; ``$VAR`` reads the host's environment."""
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        pairs = []
        for item in str(value).split(","):
            if not item.strip():
                continue
            name, sep, val = item.partition("=")
            if not sep:
                raise OptionError(f"{key}: expected NAME=VALUE pairs, got {item.strip()!r}")
            pairs.append((name, val))
    env: dict[str, str] = {}
    for name, val in pairs:
        if not isinstance(val, str):
            raise OptionError(f"{key}: {name!r} must be a string, got {val!r}")
        text = re.sub(r"\$([A-Z]+[A-Z0-9_]*)", lambda m: os.environ.get(m.group(1), ""), val)
        env[str(name).strip()] = text.strip()
    return env


def env_to_str(env: dict[str, str] | None) -> str:
    """``A=1,B=2``, sorted, as circusctl prints an environment."""
    if not env:
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(env.items()))


def convert(key: str, value: Any) -> Any:
    """``value`` as the type circus gives option ``key`` (strings are parsed)."""
    try:
        if key in _INTS:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if key in _FLOATS:
            if isinstance(value, bool):
                raise ValueError
            if key != "warmup_delay":
                return float(value)
            if isinstance(value, str) and value.strip().isdigit():
                return int(value)
            return value if isinstance(value, int | float) else float(value)
    except (TypeError, ValueError):
        kind = "an integer" if key in _INTS else "a number"
        raise OptionError(f"{key}: expected {kind}, got {value!r}") from None
    if key in _BOOLS:
        return to_bool(value, key)
    if key == "stop_signal":
        return to_signum(value, key)
    if key == "env":
        return parse_env(value, key)
    if key in _STRINGS:
        if value is None:
            return None
        if isinstance(value, list):
            return " ".join(shlex.quote(str(v)) for v in value)
        return str(value)
    if key == "hooks":
        if not isinstance(value, dict):
            raise OptionError(f"hooks: expected a table of hook names, got {value!r}")
        return dict(value)
    return value


@dataclass
class WatcherOptions:
    """One watcher's settings, with circus's defaults."""

    name: str
    cmd: str
    args: str | None = None
    numprocesses: int = 1
    warmup_delay: float = 0
    working_dir: str = field(default_factory=os.getcwd)
    shell: bool = False
    shell_args: str | None = None
    uid: str | None = None
    gid: str | None = None
    max_retry: int = 5
    send_hup: bool = False
    stop_signal: int = int(signal.SIGTERM)
    stop_children: bool = False
    env: dict[str, str] = field(default_factory=dict)
    graceful_timeout: float = 30.0
    executable: str | None = None
    priority: int = 0
    singleton: bool = False
    use_sockets: bool = False
    copy_env: bool = False
    copy_path: bool = False
    max_age: int = 0
    max_age_variance: int = 30
    respawn: bool = True
    autostart: bool = True
    on_demand: bool = False
    close_child_stdin: bool = True
    close_child_stdout: bool = False
    close_child_stderr: bool = False
    hooks: dict[str, str] = field(default_factory=dict)
    stdout_stream: dict[str, Any] = field(default_factory=dict)
    stderr_stream: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Options circus does not interpret itself (``flapping.attempts`` ...), kept for
    plugins; ``__name__`` is the INI section, as circus reports it."""

    @classmethod
    def from_mapping(cls, name: str, values: dict[str, Any]) -> WatcherOptions:
        """Options from a section or table; unknown keys are kept in :attr:`extra`."""
        if not str(values.get("cmd") or "").strip():
            raise OptionError("'cmd' is mandatory (the program to run)")
        options = cls(name=name, cmd=str(values["cmd"]).strip())
        for key, value in values.items():
            if key == "cmd":
                continue
            options.set(key, value)
        return options

    def set(self, key: str, value: Any) -> None:
        """Set one option, converting it; ``stdout_stream.X`` and ``hooks.X`` set one entry."""
        key = key.strip()
        head, dot, rest = key.partition(".")
        if dot and head in ("stdout_stream", "stderr_stream"):
            getattr(self, head)[rest] = value
        elif dot and head == "hooks":
            self.hooks[rest] = str(value)
        elif key in ("stdout_stream", "stderr_stream"):
            if not isinstance(value, dict):
                raise OptionError(f"{key}: expected a table (class, filename ...), got {value!r}")
            setattr(self, key, dict(value))
        elif key in KNOWN_OPTIONS:
            setattr(self, key, convert(key, value))
        else:
            self.extra[key] = value
        if self.singleton and self.numprocesses > 1:
            raise OptionError("numprocesses: a singleton watcher runs one process")
        if self.numprocesses < 0:
            self.numprocesses = 0

    def argv(self) -> list[str]:
        """The command line to execute: ``cmd`` and ``args`` split as a shell would."""
        line = self.cmd if not self.args else f"{self.cmd} {self.args}"
        if self.shell:
            return ["/bin/sh", "-c", line, *shlex.split(self.shell_args or "")]
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise OptionError(f"cmd: cannot split {line!r}: {exc}") from None
        if not argv:
            raise OptionError("cmd: empty command")
        return argv

    def listing(self) -> dict[str, Any]:
        """Every option by name, as circus's ``options`` command reports them."""
        data: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "numprocesses",
                "warmup_delay",
                "working_dir",
                "uid",
                "gid",
                "send_hup",
                "stop_signal",
                "stop_children",
                "shell",
                "shell_args",
                "env",
                "max_retry",
                "cmd",
                "args",
                "respawn",
                "graceful_timeout",
                "executable",
                "use_sockets",
                "priority",
                "copy_env",
                "singleton",
                "on_demand",
                "max_age",
                "max_age_variance",
                "close_child_stdin",
                "close_child_stdout",
                "close_child_stderr",
            )
        }
        data["stdout_stream_conf"] = dict(self.stdout_stream)
        data["stderr_stream_conf"] = dict(self.stderr_stream)
        data.update(self.extra)
        return dict(sorted(data.items()))

    def restart_keys(self) -> frozenset[str]:
        """Options whose change needs the processes started again."""
        return frozenset(
            {"cmd", "args", "env", "working_dir", "shell", "uid", "gid", "copy_env", "copy_path"}
        )

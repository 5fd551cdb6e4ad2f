"""Configuration: TOML files and mappings, validated into typed objects, with env overrides."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plugyard.sdk import did_you_mean

__all__ = [
    "Config",
    "ConfigError",
    "HostSettings",
    "PluginConfig",
    "did_you_mean",
    "env_overrides",
]

ENV_PREFIX = "PLUGYARD_"
_M = TypeVar("_M", bound=BaseModel)


class ConfigError(ValueError):
    """The configuration is wrong; the message names the file, the key and what was expected."""


class HostSettings(BaseModel):
    """The ``[host]`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("plugyard", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """The host's name (letters, digits, ``_``, ``.``, ``-``): in logs, events and
    ``host.json``, and the last part of the default runtime folder. Two hosts on one machine
    need different names."""
    runtime_dir: Path | None = None
    """The host's private folder (mode 0700) for sockets and ``host.json``. By default
    ``$XDG_RUNTIME_DIR/plugyard/<name>``, or else ``$TMPDIR/plugyard-<uid>/<name>``. A
    relative path is resolved against the configuration file's folder."""
    log_level: str = Field("info", pattern=r"(?i)^(debug|info|warning|error|critical)$")
    """``debug``, ``info``, ``warning``, ``error`` or ``critical`` (any case): the level
    ``plugyard run`` logs at (``--log-level`` overrides it). An application that embeds the
    host configures logging itself."""
    plugin_dirs: list[Path] = []
    """Folders that hold plugins as ``NAME.py`` files or ``NAME/`` packages, relative to the
    configuration file's folder. Only the names in ``active_plugins`` are loaded."""
    python_path: list[Path] = []
    """Folders put in front of ``sys.path`` when the host loads, and of ``PYTHONPATH`` for
    every process its supervisor starts (subscriber plugins, pod runs), so that ``use``
    targets that are not installed import in the host and in its children. Relative to the
    configuration file's folder. ``sys.path`` is process-wide: an embedding application sees
    the folders too."""
    active_plugins: list[str] = []
    """Plugins to load from ``plugin_dirs``, by file or folder name without ``.py``; the
    first folder that has one wins. A name found in no folder is recorded as ``failed``."""
    enabled: list[str] | None = None
    """When given, an allow-list: a plugin not listed is ``disabled``. It applies to
    plugins, not to adapters."""
    disabled: list[str] = []
    """Plugin and adapter names never to load; they are recorded as ``disabled``.
    ``disabled`` wins over ``enabled``."""
    watch: bool = False
    """Reload a plugin when its file changes (``plugins.reload``), for development: the
    host polls the files of the plugins it discovered. Off by default."""
    autoload: bool = True
    """``false`` loads nothing from entry points (neither adapters nor plugins) except the
    adapters named in ``adapters``; the same as ``Host(autoload=False)`` and
    ``PLUGYARD_DISABLE_AUTOLOAD=1``."""
    adapters: list[str] = []
    """Adapters to load even when autoload is off: names of entry points in
    ``plugyard.adapters`` or, failing that, import paths (``pkg.mod:object``)."""
    startup_timeout: float = Field(10.0, gt=0, le=86_400, allow_inf_nan=False)
    """Seconds for each ``plugyard_startup`` implementation and for each plugin's start."""
    shutdown_timeout: float = Field(10.0, gt=0, le=86_400, allow_inf_nan=False)
    """Seconds for each ``plugyard_shutdown`` implementation, each plugin's stop and each
    step of the shutdown (twice this for stopping plugins)."""
    hook_timeout: float = Field(5.0, gt=0, le=86_400, allow_inf_nan=False)
    """Seconds for each implementation of a hook whose policy sets no timeout
    (``plugyard_commands``, ``plugyard_routes``, most adapters' own hooks) and for each
    ``async`` event subscriber. Hooks with their own timeout keep it."""
    event_queue_size: int = Field(100_000, gt=0, le=100_000_000)
    """Events waiting for delivery. On overflow the oldest is dropped and counted
    (``stats``), which shows as a gap in ``seq``."""

    @field_validator("active_plugins")
    @classmethod
    def _plain_names(cls, value: list[str]) -> list[str]:
        for name in value:
            check_plugin_file_name(name)
        return value


_PLUGIN_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


def check_plugin_file_name(name: str) -> None:
    """Refuse an ``active_plugins`` entry that is not a plain file or folder name (a path,
    ``..``, a hidden name): it could load a file outside the plugin folders."""
    if not _PLUGIN_FILE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{name!r} is not a plugin name: expected a file or folder name in plugin_dirs "
            "(letters, digits, '_', '-', '.'), without a path or '..'"
        )


class PluginConfig(BaseModel):
    """One ``[plugins.NAME]`` table: ``use`` names the object; every other key is an option.

    Without ``use``, the table only configures the installed (entry-point) plugin ``NAME``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    use: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")

    @property
    def options(self) -> dict[str, Any]:
        """The plugin's own options: every key but ``use``."""
        return dict(self.model_extra or {})


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``PLUGYARD_<SECTION>__<KEY>[__<SUBKEY>]`` variables as a nested mapping.

    Values are read as JSON when they parse (``9000``, ``true``, ``["a"]``), else as strings.
    """
    tree: dict[str, Any] = {}
    for name, raw in (os.environ if environ is None else environ).items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            continue
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[-1]] = _parse_env_value(raw)
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def _describe_errors(where: str, prefix: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: {key}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"{where}: {key}: required value is missing")
        else:
            lines.append(f"{where}: {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


class Config:
    """A validated plugyard configuration.

    ``host`` holds the ``[host]`` settings and ``plugins`` the ``[plugins.NAME]`` tables.
    Every other top-level table belongs to an adapter, which reads it with :meth:`section`;
    a table no adapter reads is reported by :meth:`unclaimed`.
    """

    __slots__ = ("_claimed", "_raw", "base_dir", "host", "path", "plugins")

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        path: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.base_dir = path.parent if path is not None else Path.cwd()
        raw = _merge(dict(data or {}), env_overrides(environ))
        self._raw = raw
        self._claimed: set[str] = {"host", "plugins"}
        self.host = self._validate_host(raw.get("host", {}))
        self.plugins = self._validate_plugins(raw.get("plugins", {}))

    @property
    def where(self) -> str:
        """The file this configuration came from, for error messages."""
        return str(self.path) if self.path is not None else "<config>"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Config:
        """Read ``plugyard.toml``, or the ``[tool.plugyard]`` table of a ``pyproject.toml``.

        A circus.ini (a file ending in ``.ini``) is run as circusd would run it: the
        configuration is ``[zmq] circus_config`` naming that file, with the ZMQ adapter
        alone (no other adapter or entry-point plugin loads), and nothing else.
        """
        file = Path(path).resolve()
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read configuration: {exc.strerror}") from exc
        if file.suffix.lower() == ".ini":
            data = {
                "host": {"autoload": False, "adapters": ["zmq"]},
                "zmq": {"circus_config": str(file)},
            }
            return cls(data, path=file, **kwargs)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
        except RecursionError:
            raise ConfigError(
                f"{file}: not usable TOML: arrays or tables nested too deeply"
            ) from None
        if file.name == "pyproject.toml":
            tool = data.get("tool", {})
            data = tool.get("plugyard", {}) if isinstance(tool, dict) else {}
            if not isinstance(data, dict):
                raise ConfigError(f"{file}: [tool.plugyard] must be a table")
        return cls(data, path=file, **kwargs)

    def _validate_host(self, raw: Any) -> HostSettings:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{self.where}: host: expected a table, got {type(raw).__name__}")
        unknown = [key for key in raw if key not in HostSettings.model_fields]
        if unknown:
            hint = did_you_mean(unknown[0], HostSettings.model_fields)
            raise ConfigError(f"{self.where}: host.{unknown[0]}: unknown key{hint}")
        try:
            settings = HostSettings.model_validate(dict(raw))
        except ValidationError as exc:
            raise ConfigError(_describe_errors(self.where, "host", exc)) from None
        dirs = [d if d.is_absolute() else self.base_dir / d for d in settings.plugin_dirs]
        path = [d if d.is_absolute() else self.base_dir / d for d in settings.python_path]
        runtime = settings.runtime_dir
        if runtime is not None and not runtime.is_absolute():
            runtime = self.base_dir / runtime
        return settings.model_copy(
            update={"plugin_dirs": dirs, "python_path": path, "runtime_dir": runtime}
        )

    def _validate_plugins(self, raw: Any) -> dict[str, PluginConfig]:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{self.where}: plugins: expected a table of [plugins.NAME] tables")
        plugins = {}
        for name, table in raw.items():
            if not isinstance(table, Mapping):
                raise ConfigError(
                    f"{self.where}: plugins.{name}: expected a table with 'use', "
                    f"got {type(table).__name__}"
                )
            try:
                plugins[name] = PluginConfig.model_validate(dict(table))
            except ValidationError as exc:
                raise ConfigError(_describe_errors(self.where, f"plugins.{name}", exc)) from None
        return plugins

    def raw_section(self, name: str) -> dict[str, Any]:
        """A top-level table as it was written (empty if absent), marking it as read."""
        self._claimed.add(name)
        value = self._raw.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self.where}: {name}: expected a table, got {type(value).__name__}")
        return dict(value)

    def section(self, name: str, model: type[_M]) -> _M:
        """Validate the ``[name]`` table into ``model``; errors name the file and the key."""
        raw = self.raw_section(name)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_describe_errors(self.where, name, exc)) from None

    def claimed(self) -> list[str]:
        """Top-level tables something has read (or asked for), whether the file has them."""
        return sorted(self._claimed)

    def unclaimed(self) -> list[str]:
        """Top-level tables that nothing has read: most likely a typo or a missing adapter."""
        return sorted(key for key in self._raw if key not in self._claimed)

    def to_dict(self) -> dict[str, Any]:
        """The merged configuration (file plus environment) as plain data."""
        return dict(self._raw)

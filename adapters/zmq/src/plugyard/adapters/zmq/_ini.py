"""Read circus-style INI files: every ``[plugin:NAME]`` section becomes a plugyard plugin.

``use`` is mandatory and names the class (``pkg.mod.Class`` or ``pkg.mod:Class``); every other
key is an option, as a string (circus passes strings). Other sections (``[circus]``,
``[watcher:X]`` ...) are ignored.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import Any

__all__ = ["IniError", "read_circus_plugins"]


class IniError(ValueError):
    """The INI file cannot be used; the message names the file and the section."""


def read_circus_plugins(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{NAME: {"use": ..., **options}}`` for each ``[plugin:NAME]`` section of ``path``."""
    file = Path(path)
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        with file.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise IniError(f"{file}: cannot read: {exc.strerror}") from None
    except configparser.Error as exc:
        raise IniError(f"{file}: not a valid INI file: {exc}") from None
    plugins: dict[str, dict[str, Any]] = {}
    for section in parser.sections():
        kind, sep, name = section.partition(":")
        if kind.strip() != "plugin" or not sep:
            continue
        name = name.strip()
        if not name:
            raise IniError(f"{file}: [{section}]: the plugin needs a name ([plugin:NAME])")
        table = dict(parser.items(section))
        if not table.get("use", "").strip():
            raise IniError(f"{file}: [{section}]: 'use' is mandatory (pkg.module.Class)")
        table["use"] = table["use"].strip()
        plugins[name] = table
    return plugins

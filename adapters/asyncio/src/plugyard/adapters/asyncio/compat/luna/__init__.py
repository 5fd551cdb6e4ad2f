"""LUNA PLATFORM handlers plugins on plugyard's asyncio model.

LUNA plugin files import ``crutches_on_wheels.*`` and ``classes.*``; those names are supplied
by an import hook that the adapter activates only for a host whose plugin
folders hold such files (or with ``[asyncio] luna_compat = true``). The classes themselves
(``BaseEventPlugin``, ``BaseBackgroundPlugin``, ``LunaApplication``, ``BaseHandler``,
``Logger``, ``BaseRequestMonitoringPoint``, ``Event``, ``RawEvent``) live in this package's
private modules and are reached through LUNA's module names.
"""

from __future__ import annotations

from ._detect import LUNA_TOP_LEVEL, is_luna_plugin, luna_imports
from ._finder import LUNA_MODULES, activate, active, deactivate

__all__ = [
    "LUNA_MODULES",
    "LUNA_TOP_LEVEL",
    "activate",
    "active",
    "deactivate",
    "is_luna_plugin",
    "luna_imports",
]

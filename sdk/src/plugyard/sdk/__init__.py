"""What plugyard plugin authors import.

The SDK never imports the host: a plugin package depends on ``plugyard-sdk`` alone. The
contracts that plugins implement live here: hook markers, events, commands and the plugin
handle.
"""

from __future__ import annotations

from ._commands import Command, CommandError, Errno, Param
from ._events import Event, EventFormatError
from ._exports import lazy_exports
from ._handle import HandleBase, PluginHandle, StopPhase
from ._hints import did_you_mean
from ._markers import PROJECT_NAME, hookimpl
from ._versions import SPEC_VERSION, SPEC_VERSION_ATTR, parse_spec_version, spec_version_problem

__all__ = [
    "PROJECT_NAME",
    "SPEC_VERSION",
    "SPEC_VERSION_ATTR",
    "Command",
    "CommandError",
    "Errno",
    "Event",
    "EventFormatError",
    "HandleBase",
    "Param",
    "PluginHandle",
    "StopPhase",
    "__version__",
    "did_you_mean",
    "hookimpl",
    "lazy_exports",
    "parse_spec_version",
    "spec_version_problem",
]

__getattr__, __dir__ = lazy_exports(__name__, {}, public=__all__, distribution="plugyard-sdk")

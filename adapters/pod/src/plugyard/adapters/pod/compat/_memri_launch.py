"""Starting a Pymemri plugin the way Memri's pod starts one, with plugyard's pod behind it.

Memri's pod starts a plugin's container with ``run_plugin --read_args_from_env`` and five
variables (``POD_FULL_ADDRESS``, ``POD_TARGET_ITEM``, ``POD_PLUGINRUN_ID``, ``POD_OWNER``,
``POD_AUTH_JSON``); the plugin's environment holds Pymemri, never the pod's code. plugyard's
process launcher does the same when it runs a plugin with an interpreter of its own: a short
program given to ``python -c`` (standard library only) looks at the plugin class and hands
over to Pymemri's own ``run_plugin`` for a Pymemri ``PluginBase``, or to plugyard's runner
(``python -m plugyard.sdk.pod --from-env``) for a plugyard plugin.
"""

from __future__ import annotations

import json

__all__ = ["ENV_PLUGIN", "MEMRI_OWNER", "bootstrap_command", "memri_environment"]

ENV_PLUGIN = "PLUGYARD_POD_PLUGIN"
"""``module:Class`` of the run's plugin, for the bootstrap program."""

MEMRI_OWNER = "plugyard"
"""The owner key plugyard hands Pymemri plugins (``POD_OWNER``); it names, it grants nothing."""

_BOOTSTRAP = """\
import importlib, importlib.util, os, runpy, sys
module, _, name = os.environ["PLUGYARD_POD_PLUGIN"].partition(":")
try:
    from pymemri.plugin.pluginbase import PluginBase
except ImportError:
    PluginBase = None
memri = False
if PluginBase is not None:
    try:
        memri = issubclass(getattr(importlib.import_module(module), name), PluginBase)
    except Exception:
        memri = importlib.util.find_spec("plugyard.sdk.pod") is None
if memri:
    from pymemri.plugin.cli import run_plugin
    sys.argv = ["run_plugin", "--read_args_from_env"]
    run_plugin(read_args_from_env=True)
else:
    sys.argv = ["plugyard-pod-runner", "--from-env"]
    runpy.run_module("plugyard.sdk.pod", run_name="__main__", alter_sys=True)
"""


def bootstrap_command(python: str) -> list[str]:
    """The command that starts a run with a plugin's own interpreter."""
    return [python, "-u", "-c", _BOOTSTRAP]


def memri_environment(run_id: str, memri_url: str, token: str) -> dict[str, str]:
    """The variables Memri's pod gives a plugin, pointing at plugyard's Memri API."""
    return {
        "POD_FULL_ADDRESS": memri_url,
        "POD_TARGET_ITEM": json.dumps({"id": run_id, "type": "PluginRun"}),
        "POD_PLUGINRUN_ID": run_id,
        "POD_OWNER": MEMRI_OWNER,
        "POD_AUTH_JSON": json.dumps({"token": token}),
    }

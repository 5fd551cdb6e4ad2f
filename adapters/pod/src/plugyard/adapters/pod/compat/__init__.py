"""Compatibility with Memri's pod and Pymemri: the Memri HTTP API and Pymemri plugin launches.

Nothing here imports Pymemri: a Pymemri plugin runs in an environment of its own (as in a
Memri pod's container) and reaches plugyard's pod over the Memri API.
"""

from __future__ import annotations

from ._memri_api import MEMRI_PREFIX, Misdirected, memri_routes
from ._memri_items import MEMRI_VALUE_TYPES, MemriItems, memri_status, plugyard_status
from ._memri_launch import ENV_PLUGIN, MEMRI_OWNER, bootstrap_command, memri_environment

__all__ = [
    "ENV_PLUGIN",
    "MEMRI_OWNER",
    "bootstrap_command",
    "memri_environment",
    "MEMRI_PREFIX",
    "MEMRI_VALUE_TYPES",
    "MemriItems",
    "Misdirected",
    "memri_routes",
    "memri_status",
    "plugyard_status",
]

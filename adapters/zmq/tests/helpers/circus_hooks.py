"""Watcher hooks for the hook tests, written as circus users write them: plain functions
taking ``watcher``, ``arbiter`` and ``hook_name``. Each appends a JSON line to $HOOK_LOG."""

from __future__ import annotations

import json
import os
from typing import Any


def _log(hook_name: str, watcher: Any, kwargs: dict[str, Any]) -> None:
    record = {"hook": hook_name, "watcher": watcher.name, **kwargs}
    with open(os.environ["HOOK_LOG"], "a") as handle:
        handle.write(json.dumps(record, default=str) + "\n")


def record(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    _log(hook_name, watcher, kwargs)
    return True


def refuse(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    _log(hook_name, watcher, kwargs)
    return False


def fail(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    _log(hook_name, watcher, kwargs)
    raise RuntimeError(f"{hook_name} broke")


def add_stats(watcher: Any, arbiter: Any, hook_name: str, pid: int, stats: dict[str, Any]) -> None:
    stats["queue_length"] = 7
    stats["seen_by"] = hook_name

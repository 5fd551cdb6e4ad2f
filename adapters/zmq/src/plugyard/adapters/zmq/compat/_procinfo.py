"""Per-process figures for ``stats`` and ``dstats``, with circus's keys, read with psutil.

psutil is optional: without it every figure is ``"N/A"``, as circus reports a process it may
not read.
"""

from __future__ import annotations

import os
import shlex
import time
from datetime import timedelta
from typing import Any

__all__ = ["bytes2human", "process_info"]

_NA = "N/A"
_PROCESSES: dict[int, Any] = {}


def bytes2human(count: int) -> str:
    """``1.48M`` for 1,551,892 bytes, as circus prints memory."""
    for power, suffix in ((5, "P"), (4, "T"), (3, "G"), (2, "M"), (1, "K")):
        unit = 1 << (power * 10)
        if count >= unit:
            return f"{round(count / unit, 2):.2f}{suffix}"
    return f"{count}B"


def _psutil() -> Any | None:
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return None
    return psutil


def _process(psutil: Any, pid: int) -> Any:
    """A cached ``psutil.Process`` (cpu_percent compares with the previous call)."""
    proc = _PROCESSES.get(pid)
    if proc is None or not proc.is_running():
        proc = _PROCESSES[pid] = psutil.Process(pid)
    return proc


def _unavailable(pid: int) -> dict[str, Any]:
    return {
        key: _NA
        for key in ("mem_info1", "mem_info2", "cpu", "mem", "ctime", "username", "nice", "age")
    } | {"pid": pid, "cmdline": _NA, "create_time": _NA, "children": []}


def process_info(
    pid: int, *, children: bool = False, interval: float = 0.0
) -> dict[str, Any] | str:
    """The figures circus's ``stats`` gives one process; a gone process gives circus's text."""
    psutil = _psutil()
    if psutil is None:
        return _unavailable(pid)
    try:
        proc = _process(psutil, pid)
        return _read(psutil, proc, children, interval)
    except psutil.NoSuchProcess:
        _PROCESSES.pop(pid, None)
        return "No such process (stopped?)"


def _read(psutil: Any, proc: Any, children: bool, interval: float) -> dict[str, Any]:
    denied = psutil.AccessDenied
    info: dict[str, Any] = {"pid": proc.pid}
    try:
        memory = proc.memory_info()
        info["mem_info1"] = bytes2human(memory[0])
        info["mem_info2"] = bytes2human(memory[1])
    except denied:
        info["mem_info1"] = info["mem_info2"] = _NA
    try:
        info["cpu"] = proc.cpu_percent(interval=interval)
    except denied:
        info["cpu"] = _NA
    try:
        info["mem"] = round(proc.memory_percent(), 3)
    except denied:
        info["mem"] = _NA
    try:
        spent = timedelta(seconds=sum(proc.cpu_times()))
        minutes, seconds = spent.seconds // 60 % 60, str(spent.seconds % 60).zfill(2)
        info["ctime"] = f"{minutes}:{seconds}.{str(spent.microseconds)[:2]}"
    except denied:
        info["ctime"] = _NA
    try:
        info["username"] = proc.username()
    except (denied, KeyError):
        info["username"] = _NA
    try:
        info["nice"] = proc.nice()
    except denied:
        info["nice"] = _NA
    try:
        created = proc.create_time()
        info["create_time"] = created
        info["age"] = time.time() - created
    except denied:
        info["create_time"] = info["age"] = _NA
    try:
        argv = proc.cmdline()
        info["cmdline"] = os.path.basename(shlex.split(argv[0])[0]) if argv else _NA
    except (denied, IndexError, ValueError):
        info["cmdline"] = _NA
    info["children"] = []
    if children:
        for child in proc.children():
            try:
                info["children"].append(_read(psutil, _process(psutil, child.pid), False, interval))
            except psutil.NoSuchProcess:
                continue
    return info

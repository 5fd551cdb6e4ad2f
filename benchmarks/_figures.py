"""The ``figures`` list every benchmark puts in its ``--json`` object.

A figure is one plugyard measurement beside the raw building block it is made of, their
ratio, and the target the benchmark declares for it, if any. ``run_all.py`` renders these
lists as one table and takes every target from them, so a target lives only in its own
benchmark. Each figure is a JSON object::

    {"name": "acall_vs_pluggy_1_impls", "label": "host.acall, 1 implementation",
     "unit": "ns/call", "plugyard": 1881.0, "raw": 1407.0, "raw_label": "raw pluggy",
     "ratio": 1.337, "target": {"on": "ratio", "op": "<=", "limit": 2.0}, "met": true}

``raw``, ``raw_label``, ``ratio`` and ``target`` are ``null`` where they do not apply. A target
``on`` ``"ratio"`` judges the ratio; ``on`` ``"plugyard"`` judges plugyard's own figure, in
``unit``. A figure that could not be measured has ``"skipped"`` (the reason) instead of the
numbers, and ``"met": null``.

A benchmark that has a size (implementations, plugins, items per batch, installed
distributions) also puts a ``curves`` list in its object: each curve is plugyard's figure at
every size beside its raw anchor at the same sizes, built with :func:`curve` and
:func:`series`::

    {"name": "pod_bulk_sqlite", "title": "pod bulk writes, SQLite",
     "x_label": "items per batch", "unit": "items/s", "log_x": true,
     "series": [{"label": "PodClient in process", "raw": false,
                 "points": [[100, 61000.0], [1000, 98000.0], ...]},
                {"label": "raw sqlite3", "raw": true, "points": [[100, 150000.0], ...]}]}

``run_all.py`` draws each curve as a PNG (raw anchors dashed) and lists them in
``RESULTS.md``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Target", "curve", "figure", "series", "skipped"]

Op = Literal["<", "<=", ">", ">="]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True, slots=True)
class Target:
    """What a figure should reach: ``on`` (the ratio or plugyard's figure) ``op`` ``limit``."""

    op: Op
    limit: float
    on: Literal["ratio", "plugyard"] = "ratio"

    def __post_init__(self) -> None:
        if self.op not in _COMPARE:
            raise ValueError(f"Target: op must be one of {sorted(_COMPARE)}, not {self.op!r}")
        if self.on not in ("ratio", "plugyard"):
            raise ValueError(f"Target: on must be 'ratio' or 'plugyard', not {self.on!r}")

    def met(self, value: float) -> bool:
        """Whether ``value`` (the ratio or plugyard's figure, per ``on``) reaches the target."""
        return _COMPARE[self.op](value, self.limit)

    def as_json(self) -> dict[str, Any]:
        return {"on": self.on, "op": self.op, "limit": self.limit}


def figure(
    name: str,
    label: str,
    *,
    unit: str,
    plugyard: float,
    raw: float | None = None,
    raw_label: str | None = None,
    ratio: float | None = None,
    target: Target | None = None,
) -> dict[str, Any]:
    """One measured figure; ``ratio`` defaults to ``plugyard / raw``."""
    if ratio is None and raw:
        ratio = plugyard / raw
    if target is None:
        met = None
    else:
        judged = ratio if target.on == "ratio" else plugyard
        if judged is None:
            raise ValueError(f"figure {name!r}: a target on the ratio needs a raw figure")
        met = target.met(judged)
    return {
        "name": name,
        "label": label,
        "unit": unit,
        "plugyard": plugyard,
        "raw": raw,
        "raw_label": raw_label,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": None if target is None else target.as_json(),
        "met": met,
    }


def skipped(name: str, label: str, reason: str, target: Target | None = None) -> dict[str, Any]:
    """A figure that this run could not measure, and why."""
    return {
        "name": name,
        "label": label,
        "skipped": reason,
        "target": None if target is None else target.as_json(),
        "met": None,
    }


def series(
    label: str, points: Iterable[tuple[float, float]], *, raw: bool = False
) -> dict[str, Any]:
    """One line of a curve: ``(size, figure)`` points; ``raw`` marks the raw anchor."""
    return {"label": label, "raw": raw, "points": [[x, y] for x, y in points]}


def curve(
    name: str,
    title: str,
    *,
    x_label: str,
    unit: str,
    lines: Sequence[dict[str, Any]],
    log_x: bool = True,
) -> dict[str, Any]:
    """A figure measured at several sizes, plugyard's lines beside their raw anchors."""
    if not lines:
        raise ValueError(f"curve {name!r}: no series")
    for line in lines:
        if len(line["points"]) < 2:
            raise ValueError(f"curve {name!r}: series {line['label']!r} has fewer than 2 points")
    return {
        "name": name,
        "title": title,
        "x_label": x_label,
        "unit": unit,
        "log_x": log_x,
        "series": list(lines),
    }

"""Draw the ``curves`` of benchmark reports as PNG files (matplotlib, when installed).

``run_all.py`` calls :func:`draw` with every benchmark's curves. matplotlib is an optional
benchmark dependency (in the workspace's dev group): without it, no picture is drawn and the
curves still appear as tables in ``RESULTS.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["available", "draw", "file_name"]


def available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def file_name(bench: str, curve: dict[str, Any]) -> str:
    """``bench_pod-pod_bulk_sqlite.png``: the benchmark's name, then the curve's."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(curve["name"]))
    return f"{bench}-{safe}.png"


def draw(curves: Iterable[tuple[str, dict[str, Any]]], folder: Path) -> list[Path]:
    """One PNG per ``(benchmark, curve)`` in ``folder``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for bench, found in curves:
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        try:
            for line in found["series"]:
                xs = [point[0] for point in line["points"]]
                ys = [point[1] for point in line["points"]]
                ax.plot(
                    xs,
                    ys,
                    linestyle="--" if line["raw"] else "-",
                    marker="o",
                    label=line["label"] + (" (raw)" if line["raw"] else ""),
                )
            if found.get("log_x", True):
                ax.set_xscale("log")
            ax.set_xlabel(found["x_label"])
            ax.set_ylabel(found["unit"])
            ax.set_ylim(bottom=0)
            ax.set_title(f"{bench}: {found['title']}", fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            path = folder / file_name(bench, found)
            fig.savefig(path)
            written.append(path)
        finally:
            plt.close(fig)
    return written

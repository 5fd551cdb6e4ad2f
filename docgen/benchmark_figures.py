"""The benchmarks' curves in the guide: ``benchmarks/figures/*.png`` become site files.

``run_all.py`` draws each curve a benchmark reports as ``benchmarks/figures/BENCH-CURVE.png``
and links it from ``RESULTS.md`` as ``figures/BENCH-CURVE.png``. This hook adds every such
picture to the site under ``figures/``, so those links (and the ones below) work on the
benchmarks page, and replaces ``<!-- plugyard:figures -->`` on a page with every picture.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

__all__ = ["figures", "on_files", "on_page_markdown"]

MARKER = "<!-- plugyard:figures -->"
FOLDER = Path("benchmarks") / "figures"


def figures(root: Path) -> list[Path]:
    """The pictures ``run_all.py`` drew, in name order."""
    folder = root / FOLDER
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def on_files(files: Files, *, config: Any) -> Files:
    """MkDocs hook: every picture in ``benchmarks/figures`` becomes ``figures/NAME.png``."""
    root = Path(config["config_file_path"]).parent
    for picture in figures(root):
        files.append(
            File(
                f"figures/{picture.name}",
                src_dir=str(root / FOLDER.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_page_markdown(markdown: str, *, page: Any, config: Any, **_: Any) -> str:
    """MkDocs hook: ``<!-- plugyard:figures -->`` becomes one image per picture."""
    if MARKER not in markdown:
        return markdown
    root = Path(config["config_file_path"]).parent
    docs_dir = Path(config["docs_dir"]).resolve()
    page_dir = Path(page.file.abs_src_path).resolve().parent
    found = figures(root)
    if not found:
        return markdown.replace(MARKER, f"*`{FOLDER}` holds no pictures in this checkout.*")
    lines = []
    for picture in found:
        bench, _, name = picture.stem.partition("-")
        link = os.path.relpath(docs_dir / "figures" / picture.name, page_dir)
        lines += [f"![{bench}: {name}]({link})", ""]
    return markdown.replace(MARKER, "\n".join(lines).rstrip())

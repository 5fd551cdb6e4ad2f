"""Repository files shown inside the guide, read at build time.

``<!-- plugyard:include PATH -->`` on a page becomes the Markdown file ``PATH`` (relative to
the repository root) without its title and with its other headings moved one level down; add
``optional`` after the path for a file that a checkout may not have yet. Links in the included
file that point at guide pages are rewritten for the page; links to other repository files
become code spans naming the file, since the site holds only the guide.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = ["include", "on_page_markdown"]

MARKER = re.compile(r"^<!-- plugyard:include (\S+)( optional)? -->$", re.MULTILINE)
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]+)(#[^)]*)?\)")
FENCE = re.compile(r"^(```|~~~)")


def _demote(text: str) -> str:
    """Drop the file's own title and move its other headings one level down."""
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out = []
    fenced = False
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            line = "#" + line
        out.append(line)
    return "\n".join(out)


def include(path: str, root: Path, docs_dir: Path, page_dir: Path, *, optional: bool) -> str:
    """The Markdown of repository file ``path``, ready to sit on a page in ``page_dir``."""
    file = (root / path).resolve()
    if not file.is_relative_to(root.resolve()):
        raise ValueError(f"<!-- plugyard:include {path} -->: outside the repository")
    if not file.is_file():
        if optional:
            return f"*`{path}` is not in this checkout.*"
        raise FileNotFoundError(f"<!-- plugyard:include {path} -->: no such file {file}")
    text = file.read_text(encoding="utf-8")

    def relink(match: re.Match[str]) -> str:
        label, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        if "://" in target or target.startswith("mailto:"):
            return match.group(0)
        linked = (file.parent / target).resolve()
        if linked.is_relative_to(docs_dir.resolve()):
            return f"[{label}]({os.path.relpath(linked, page_dir.resolve())}{anchor})"
        shown = (
            linked.relative_to(root.resolve()) if linked.is_relative_to(root.resolve()) else target
        )
        return f"{label} (`{shown}`)"

    return _demote(LINK.sub(relink, text))


def on_page_markdown(markdown: str, *, page: Any, config: Any, **_: Any) -> str:
    """MkDocs hook: replace each ``<!-- plugyard:include PATH -->`` marker."""
    root = Path(config["config_file_path"]).parent
    docs_dir = Path(config["docs_dir"])
    page_dir = Path(page.file.abs_src_path).parent

    def replace(match: re.Match[str]) -> str:
        return include(match.group(1), root, docs_dir, page_dir, optional=bool(match.group(2)))

    return MARKER.sub(replace, markdown)

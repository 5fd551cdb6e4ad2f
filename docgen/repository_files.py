"""Repository files in the guide: included pages, and links that leave ``docs/``.

``<!-- plugyard:include PATH -->`` on a page becomes the Markdown file ``PATH`` (relative to
the repository root) without its title and with its other headings moved one level down; add
``optional`` after the path for a file that a checkout may not have yet.

The site holds only the guide, so a link to a repository file outside ``docs/`` (an example's
README, say; useful where the Markdown is read in the repository) becomes a code span naming
the file. Links to guide pages are kept, and rewritten for the page an included file lands
on. A link to a file that exists nowhere is left alone, for MkDocs to report.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = ["include", "on_page_markdown", "relink"]

MARKER = re.compile(r"^<!-- plugyard:include (\S+)( optional)? -->$", re.MULTILINE)
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]+)(#[^)]*)?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def _outside_fences(text: str, change: Any) -> str:
    """Apply ``change`` to every line that is not inside a fenced code block."""
    out = []
    fenced = False
    for line in text.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            line = change(line)
        out.append(line)
    return "\n".join(out)


def relink(text: str, *, source_dir: Path, root: Path, docs_dir: Path, page_dir: Path) -> str:
    """Links of Markdown written in ``source_dir``, made right for a page in ``page_dir``."""
    root, docs_dir, page_dir = root.resolve(), docs_dir.resolve(), page_dir.resolve()

    def one(match: re.Match[str]) -> str:
        label, target, anchor = match.group(1), match.group(2), match.group(3) or ""
        if "://" in target or target.startswith("mailto:"):
            return match.group(0)
        linked = (source_dir / target).resolve()
        if linked.is_relative_to(docs_dir):
            return f"[{label}]({os.path.relpath(linked, page_dir)}{anchor})"
        if linked.is_relative_to(root) and linked.exists():
            return f"{label} (`{linked.relative_to(root)}`)"
        return match.group(0)

    return _outside_fences(text, lambda line: LINK.sub(one, line))


def _demote(text: str) -> str:
    """Drop the file's own title and move its other headings one level down."""
    lines = text.split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return _outside_fences("\n".join(lines), lambda line: "#" + line if line[:1] == "#" else line)


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
    text = relink(text, source_dir=file.parent, root=root, docs_dir=docs_dir, page_dir=page_dir)
    return _demote(text)


def on_page_markdown(markdown: str, *, page: Any, config: Any, **_: Any) -> str:
    """MkDocs hook: fill ``<!-- plugyard:include PATH -->`` markers, then fix links that
    leave the guide."""
    root = Path(config["config_file_path"]).parent
    docs_dir = Path(config["docs_dir"])
    page_dir = Path(page.file.abs_src_path).parent
    markdown = relink(
        markdown, source_dir=page_dir, root=root, docs_dir=docs_dir, page_dir=page_dir
    )

    def replace(match: re.Match[str]) -> str:
        return include(match.group(1), root, docs_dir, page_dir, optional=bool(match.group(2)))

    return MARKER.sub(replace, markdown)

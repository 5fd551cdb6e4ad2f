"""The docs keep up with the code: every hook spec is documented, every relative link works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_every_hook_spec_is_in_the_hook_reference() -> None:
    from plugyard.host import hookspecs

    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#{2,4} `?(plugyard_\w+)", text, flags=re.MULTILINE))
    missing = sorted(set(hookspecs.__all__) - documented)
    assert missing == [], f"docs/hooks.md lacks a section for {', '.join(missing)}"


@pytest.mark.parametrize("page", [*sorted(p.name for p in DOCS.glob("*.md")), "../README.md"])
def test_relative_links_point_at_files_that_exist(page: str) -> None:
    path = (DOCS / page).resolve()
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (path.parent / target).exists():
            broken.append(target)
    assert broken == [], f"{page} links to missing files: {broken}"

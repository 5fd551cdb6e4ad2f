"""Helpers for the girder_worker compatibility tests: the test plugin distributions,
installed as a user installs them, and a plugyard.toml for them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from _celery_helpers import ROOT, Setup

DISTS = ROOT / "adapters" / "celery" / "tests" / "girder"
FIB = "gwarith.tasks.fibonacci"
CHATTY = "gwarith.tasks.chatty"
WAITER = "gwarith.tasks.wait_for_cancel"


def install_plugins(tmp: Path, *names: str) -> Path:
    """The test distributions ``names`` installed, with their entry points, into a folder of
    their own (built from a copy, so that nothing is written into the source tree)."""
    site = tmp / "site"
    sources = []
    for name in names:
        source = tmp / "src" / name
        shutil.copytree(DISTS / name, source)
        sources.append(str(source))
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "--no-deps", "--target", str(site), *sources],
        check=True,
        timeout=120,
    )
    return site


def make_setup(tmp: Path, site: Path, *extra: str) -> Setup:
    """A plugyard.toml with the embedded broker, and the environment of every process."""
    config = tmp / "plugyard.toml"
    lines = ["[host]", f'runtime_dir = "{tmp / "state"}"', "", "[celery]", "cancel_timeout = 5"]
    config.write_text("\n".join([*lines, *extra]) + "\n")
    env = {**os.environ, "PYTHONPATH": str(site), "PLUGYARD_CONFIG": str(config)}
    return Setup("embedded", config, env)

"""Builds the virtual environment Pymemri 0.1.2 runs in, apart from plugyard's own.

Pymemri pins pydantic 1.10, so it cannot share an environment with plugyard (pydantic 2), just
as a Memri plugin runs in a container of its own. The environment is cached under
``~/.cache/plugyard-tests/pymemri-venv-<hash>`` (``$PLUGYARD_TEST_CACHE`` moves it), keyed by
the requirements, so a test session builds it once. ``fastscript``, which Pymemri's CLI
imports, is gone from PyPI (a placeholder remains); ``fastcore.script`` is what it became, so
the environment's ``fastscript`` gets two lines re-exporting it.

Run ``python adapters/pod/tests/pymemri_env.py`` to build it and print its interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = ("pymemri==0.1.2", "fastcore==1.5.29")
SHIM = (
    "from fastcore.script import *  # noqa: F403\n"
    "from fastcore.script import Param, call_parse  # noqa: F401\n"
)
_READY = ".plugyard-ready"


class EnvironmentUnavailable(RuntimeError):
    """The environment could not be built (no package index, no venv module ...)."""


def cache_root() -> Path:
    """Where test environments are kept."""
    configured = os.environ.get("PLUGYARD_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "plugyard-tests"


def venv_dir() -> Path:
    """The environment's folder, named by a hash of what goes into it."""
    key = "\n".join((*REQUIREMENTS, SHIM, "package", f"{sys.version_info[:2]}")).encode()
    return cache_root() / f"pymemri-venv-{hashlib.sha256(key).hexdigest()[:12]}"


def python_of(venv: Path) -> Path:
    """The environment's interpreter."""
    return venv / "bin" / "python"


def ensure(timeout: float = 900.0) -> Path:
    """Build the environment unless it is built; returns its interpreter.

    Concurrent test processes wait on a lock file instead of building twice. Raises
    :class:`EnvironmentUnavailable` with pip's last lines if the build fails.
    """
    venv = venv_dir()
    if (venv / _READY).exists():
        return python_of(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _READY).exists():
            return python_of(venv)
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        steps = [
            [base, "-m", "venv", str(venv)],
            [str(python_of(venv)), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                shutil.rmtree(venv, ignore_errors=True)
                raise EnvironmentUnavailable(f"{' '.join(step[:4])}: {exc}") from None
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
                raise EnvironmentUnavailable(f"{' '.join(step[:5])} failed:\n{tail}")
        purelib = subprocess.run(
            [str(python_of(venv)), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # pip installs PyPI's placeholder ``fastscript`` package (a Pymemri requirement); the
        # shim replaces what it holds
        package = Path(purelib) / "fastscript"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text(SHIM, encoding="utf-8")
        (venv / _READY).write_text("\n".join(REQUIREMENTS) + "\n", encoding="utf-8")
    return python_of(venv)


if __name__ == "__main__":
    print(ensure())

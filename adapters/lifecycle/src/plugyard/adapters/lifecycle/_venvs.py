"""Plugins declared with ``install: true`` and a ``source``: each is installed with uv into a
virtual environment of its own, which sees plugyard's packages after its own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import threading
from pathlib import Path

from plugyard.sdk.lifecycle import NonRecoverableError

from ._model import PluginDecl

__all__ = ["INSTALL_TIMEOUT", "PluginInstallError", "ensure_venv", "uv_command"]

INSTALL_TIMEOUT = 600.0
"""Seconds one ``uv`` command of a plugin's installation may take."""
HOST_PTH = "zzz-plugyard-host.pth"
"""The file that puts the host's site-packages on the plugin environment's path, last."""
_READY = "plugyard-ready.json"
_TAIL = 2000

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


class PluginInstallError(NonRecoverableError):
    """A plugin's virtual environment could not be made; names the plugin and the command."""


def uv_command() -> list[str]:
    """How to run uv: ``uv`` on PATH, else ``python -m uv`` if the uv package is installed."""
    found = shutil.which("uv")
    if found:
        return [found]
    try:
        import uv  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        raise PluginInstallError(
            "installing plugins with 'install: true' needs uv: put 'uv' on PATH or install "
            "the 'uv' package into plugyard's environment"
        ) from None
    return [sys.executable, "-m", "uv"]


def _key(decl: PluginDecl) -> str:
    """The cache key: the source, its files' times and sizes, the arguments, the Python."""
    digest = hashlib.sha256()
    parts = [decl.requirement or "", *decl.install_arguments, sys.version, sys.executable]
    digest.update("\0".join(parts).encode())
    source = Path(decl.requirement or "")
    if decl.requirement and source.exists():
        files = sorted(source.rglob("*")) if source.is_dir() else [source]
        for file in files:
            if file.is_file() and not _generated(file.relative_to(source).parts):
                stat = file.stat()
                digest.update(f"{file}\0{stat.st_mtime_ns}\0{stat.st_size}\0".encode())
    return digest.hexdigest()[:16]


_GENERATED = frozenset({"__pycache__", ".git", ".venv", "build", "dist"})


def _generated(parts: tuple[str, ...]) -> bool:
    """Whether a file of a source folder is made by building it (left out of the key)."""
    return any(p in _GENERATED or p.endswith(".egg-info") for p in parts)


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run(decl: PluginDecl, command: list[str]) -> None:
    env = dict(os.environ)
    # A host running under ``uv run`` must not make uv act on the host's own environment.
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "CONDA_PREFIX"):
        env.pop(name, None)
    shown = " ".join(command)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise PluginInstallError(
            f"plugin {decl.name!r}: '{shown}' took longer than {INSTALL_TIMEOUT:g}s"
        ) from None
    except OSError as exc:
        raise PluginInstallError(f"plugin {decl.name!r}: '{shown}' could not run: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-_TAIL:]
        raise PluginInstallError(
            f"plugin {decl.name!r}: '{shown}' failed with exit code {done.returncode}:\n{tail}"
        )


def _host_site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def ensure_venv(decl: PluginDecl, root: Path) -> Path:
    """The Python of ``decl``'s virtual environment under ``root``, made on first use
    (``uv venv`` then ``uv pip install``) and reused while the source is unchanged."""
    if not decl.isolated:
        raise ValueError(f"plugin {decl.name!r} is not installed in an environment of its own")
    venv = root / f"{decl.name}-{_key(decl)}"
    with _locks_guard:
        lock = _locks.setdefault(venv, threading.Lock())
    with lock:
        if (venv / _READY).is_file():
            return _python(venv)
        uv = uv_command()
        if venv.exists():
            shutil.rmtree(venv)
        root.mkdir(parents=True, exist_ok=True)
        _run(decl, [*uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
        python = _python(venv)
        _run(
            decl,
            [
                *uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(python),
                str(decl.requirement),
                *decl.install_arguments,
            ],
        )
        own = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # Processed after the environment's own packages, so the plugin's versions win;
        # addsitedir also reads the host's .pth files (editable installs under ``uv run``).
        lines = [f"import site; site.addsitedir({d!r})" for d in _host_site_dirs()]
        (Path(own) / HOST_PTH).write_text("\n".join(lines) + "\n")
        (venv / _READY).write_text(json.dumps({"plugin": decl.name, "source": decl.requirement}))
        return python

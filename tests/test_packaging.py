"""Packaging: the namespace stays PEP 420, each member installs and imports alone, and an
installed example plugin shows up in ``plugyard plugins``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def distribution_roots() -> list[Path]:
    members = [ROOT / "host", ROOT / "sdk", ROOT / "demo", ROOT / "console"]
    members += sorted((ROOT / "adapters").glob("*"))
    return [m / "src" for m in members if (m / "pyproject.toml").is_file()]


def test_no_init_at_the_namespace_levels() -> None:
    offenders = []
    for src in distribution_roots():
        for level in (src / "plugyard", src / "plugyard" / "adapters"):
            if (level / "__init__.py").exists():
                offenders.append(str(level / "__init__.py"))
    assert offenders == [], "plugyard is a PEP 420 namespace: remove " + ", ".join(offenders)


def test_plugyard_is_a_namespace_package_at_run_time() -> None:
    import plugyard

    assert getattr(plugyard, "__file__", None) is None
    assert len(list(plugyard.__path__)) >= 2


def test_every_member_ships_py_typed() -> None:
    for src in distribution_roots():
        typed = list(src.glob("plugyard/**/py.typed"))
        assert typed, f"{src.parent.name} has no py.typed"


def _installer() -> list[str] | None:
    uv = shutil.which("uv")
    return [uv, "pip", "install", "--quiet"] if uv else None


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty virtual environment, filled step by step by the tests below."""
    folder = tmp_path_factory.mktemp("venv") / "env"
    uv = shutil.which("uv")
    if uv:
        subprocess.run(
            [uv, "venv", "--quiet", "--python", sys.executable, str(folder)],
            check=True,
            timeout=120,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    return folder


def install(venv: Path, *targets: str) -> None:
    python = str(venv / "bin" / "python")
    installer = _installer()
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    if installer:
        command = [*installer, "--python", python, *targets]
    else:
        command = [python, "-m", "pip", "install", "--quiet", *targets]
    subprocess.run(command, check=True, timeout=600, env=env, cwd=ROOT)


def run_in(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGYARD_", "PYTHONPATH"))}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=venv)


@pytest.mark.slow
def test_members_install_and_import_alone_and_examples_appear(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    install(venv, "./sdk")
    sdk_only = run_in(
        venv,
        python,
        "-c",
        "import plugyard.sdk, plugyard.sdk.testing, sys\n"
        "print('host' in [m.split('.')[1] for m in sys.modules "
        "if m.startswith('plugyard.')])\n"
        "import importlib.util\n"
        "print(importlib.util.find_spec('plugyard.host') is None)",
    )
    assert sdk_only.returncode == 0, sdk_only.stderr
    assert sdk_only.stdout.split() == ["False", "True"]

    install(venv, "./host")
    host = run_in(venv, python, "-c", "from plugyard.host import Host; print(Host.__name__)")
    assert host.stdout.strip() == "Host", host.stderr

    install(venv, "./examples/hello-hooks")
    listed = run_in(venv, str(venv / "bin" / "plugyard"), "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    hello = records["hello"]
    assert hello["model"] == "hooks"
    assert hello["distribution"] == "hello-hooks"
    assert hello["version"] == "0.1.0"
    assert hello["state"] == "loaded"
    assert "plugyard_startup" in hello["hooks"]


@pytest.mark.slow
def test_a_hooks_only_plugin_needs_the_sdk_alone(tmp_path_factory: pytest.TempPathFactory) -> None:
    """examples/hello-hooks installs with plugyard-sdk alone and its tests pass there."""
    folder = tmp_path_factory.mktemp("sdk-only") / "env"
    uv = shutil.which("uv")
    if uv:
        subprocess.run(
            [uv, "venv", "--quiet", "--python", sys.executable, str(folder)],
            check=True,
            timeout=120,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    install(folder, "./sdk", "./examples/hello-hooks", "pytest>=8.0")
    tests = ROOT / "examples" / "hello-hooks" / "tests"
    done = run_in(
        folder,
        str(folder / "bin" / "python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(tests),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


@pytest.mark.slow
def test_the_demo_wheel_carries_the_example_plugins_it_runs(tmp_path: Path) -> None:
    import zipfile

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build a wheel here (pip install uv)")
    subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(ROOT / "demo")],
        check=True,
        timeout=300,
        cwd=ROOT,
    )
    (wheel,) = tmp_path.glob("plugyard_demo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = "plugyard/demo/examples/"
    for wanted in (
        "lifecycle-webserver/blueprint/blueprint.yaml",
        "lifecycle-webserver/blueprint/templates/index.html",
        "lifecycle-webserver/src/python_webserver/tasks.py",
        "zmq-event-logger/src/zmq_event_logger/__init__.py",
        "asyncio-plugins/src/asyncio_plugins/background_plugin_example.py",
        "celery-fibonacci/src/gwexample/analyses/tasks.py",
        "pod-dog-plugin/src/pod_dog_plugin/__init__.py",
    ):
        assert bundled + wanted in names, wanted
    assert not any("__pycache__" in name for name in names)

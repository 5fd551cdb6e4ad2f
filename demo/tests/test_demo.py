"""``plugyard demo`` end to end: the real CLI in a subprocess, every step checked, a failing
step named, ``--keep-running`` answering the CLI and HTTP, and bad options refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugyard.demo import ExamplesNotFound, find_examples
from plugyard.demo._setup import EXAMPLES, Layout, demo_config, write_toml

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PLUGYARD = str(Path(sys.executable).with_name("plugyard"))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_demo(*args: str, timeout: float = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLUGYARD, "demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        cwd=ROOT,
    )


def _port_closed(url: str) -> bool:
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def _summary(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    return loaded


def test_the_demo_runs_every_step_and_leaves_nothing_running(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    done = _run_demo("--dir", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for number in range(1, 7):
        assert f"[{number}/6]" in out
    assert out.count("  ok  ") == 6, out
    assert "= 121393" in out
    assert "GET /teapot -> 418" in out
    assert "steps: 6 of 6 happened" in out
    assert "Traceback" not in done.stderr

    summary = _summary(folder)
    assert summary["ok"] is True
    assert [s["status"] for s in summary["steps"]] == ["ok"] * 6
    models = {m["model"]: m for m in summary["models"]}
    assert set(models) == {"lifecycle", "zmq", "asyncio", "celery", "pod"}
    assert models["lifecycle"]["state"] == "started -> stopped"
    assert models["pod"]["state"] == "run done, exit 0"
    assert summary["logged"] > 0 and summary["monitored"] > 0

    # the ZMQ logger, a process of its own, wrote the lifecycle, task and pod events
    log = (folder / "events.log").read_text()
    assert "succeeded web.install::" in log
    assert "success gwexample.analyses.tasks.fibonacci::" in log
    assert "created item.Dog::" in log
    assert "succeeded web.uninstall::" in log
    for number in range(1, 6):  # the steps are host events too (step 6 ends with the host)
        assert f"started step.{number}::" in log
        assert f"ok step.{number}::" in log
    assert (folder / "host.log").stat().st_size > 0
    config = tomllib.loads((folder / "plugyard.toml").read_text())
    assert config["host"]["name"] == "plugyard-demo"

    # uninstall stopped the web server and nothing of the host is left listening
    url = next(line for line in out.splitlines() if "serving http://" in line).rsplit(" ", 1)[1]
    assert _port_closed(url)
    assert not (folder / "run" / "host.json").exists()


def test_a_failing_step_names_itself_and_the_others_still_run(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    for name in EXAMPLES.values():
        shutil.copytree(
            ROOT / "examples" / name,
            examples / name,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    plugin = examples / "pod-dog-plugin" / "src" / "pod_dog_plugin" / "__init__.py"
    plugin.write_text(
        plugin.read_text().replace(
            'self.log.info("Started plugin run...")',
            'raise RuntimeError("the dog ran away")',
        )
    )
    folder = tmp_path / "demo"
    done = _run_demo("--dir", str(folder), "--examples", str(examples), "--timeout", "30")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED  step 4 (the pod plugin runs as a subprocess" in done.stdout
    assert "ended 'error'" in done.stdout
    assert "steps: 5 of 6 happened" in done.stdout
    statuses = [s["status"] for s in _summary(folder)["steps"]]
    assert statuses == ["ok", "ok", "ok", "failed", "ok", "ok"]
    assert "the dog ran away" in (folder / "host.log").read_text()


def test_keep_running_leaves_the_host_up_for_the_cli_and_http(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    proc = subprocess.Popen(
        [PLUGYARD, "demo", "--dir", str(folder), "--keep-running"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        assert "Press Ctrl-C" in text, text
        teapot = next(line for line in lines if "/teapot" in line and "curl" in line).split()[-1]
        assert httpx.get(teapot, timeout=5).status_code == 418

        env = {**_env(), "PLUGYARD_CONFIG": str(folder / "plugyard.toml")}
        called = subprocess.run(
            [PLUGYARD, "call", "plugins"], capture_output=True, text=True, env=env, timeout=60
        )
        assert called.returncode == 0, called.stderr
        states = {p["name"]: p["state"] for p in json.loads(called.stdout)["plugins"]}
        assert states["logger"] == "started"
        assert states["gwexample"] == "started"
        assert states["lifecycle.web"] == "started"
        listed = subprocess.run(
            [PLUGYARD, "plugins"], capture_output=True, text=True, env=env, timeout=60
        )
        assert listed.returncode == 0, listed.stderr
        assert "gwexample" in listed.stdout
        assert "is running with this configuration" in listed.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, text + rest + err
    assert "steps: 6 of 6 happened" in rest
    assert _summary(folder)["ok"] is True


def test_bad_options_are_refused_with_a_reason(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    done = _run_demo("--dir", str(busy), timeout=60)
    assert done.returncode == 1
    assert f"--dir {busy}: the folder is not empty" in done.stderr
    done = _run_demo("--examples", str(tmp_path), timeout=60)
    assert done.returncode == 1
    assert f"--examples {tmp_path}: missing lifecycle-webserver/src" in done.stderr


def test_examples_are_found_in_the_checkout_and_a_wrong_folder_is_explained(
    tmp_path: Path,
) -> None:
    assert find_examples() == (ROOT / "examples").resolve()
    with pytest.raises(ExamplesNotFound, match="missing lifecycle-webserver/src"):
        find_examples(tmp_path)


def test_the_written_configuration_is_the_one_the_host_reads(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    config = demo_config(layout, ROOT / "examples", "http://127.0.0.1:9/1/buckets")
    write_toml(layout.config, config)
    assert tomllib.loads(layout.config.read_text()) == json.loads(json.dumps(config))

"""End to end: the pod CLI and the example plugin, through real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pod-dog-plugin"
FIXTURES = ROOT / "adapters" / "pod" / "tests"
PLUGYARD = str(Path(sys.executable).with_name("plugyard"))

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "plugyard.toml").write_text(
        f'[host]\nname = "podcli"\nruntime_dir = "{tmp_path / "run"}"\n\n'
        f'[pod]\ndatabase = "sqlite:///{tmp_path / "pod.db"}"\n'
    )
    return tmp_path


def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    return {**base, "PYTHONPATH": f"{EXAMPLE / 'src'}:{FIXTURES}"}


def plugyard(
    project: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLUGYARD, "pod", *args, "-c", str(project / "plugyard.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
        cwd=project,
        input=stdin,
    )


def dogs(project: Path) -> list[Any]:
    from plugyard.adapters.pod import Store

    store = Store(f"sqlite:///{project / 'pod.db'}")
    try:
        return [row.properties for row in store.search({"type": "Dog"})]
    finally:
        store.close()


def test_run_plugin_in_process_writes_alice(project: Path) -> None:
    done = plugyard(
        project,
        "run-plugin",
        "--metadata",
        str(EXAMPLE / "plugin.json"),
        "--config-file",
        str(EXAMPLE / "config.json"),
    )
    assert done.returncode == 0, done.stderr
    assert "Run success!" in done.stderr
    assert dogs(project) == [{"name": "Alice", "age": 10}]


def test_launch_wait_runs_the_example_as_a_subprocess(project: Path) -> None:
    done = plugyard(
        project,
        "launch",
        "--metadata",
        str(EXAMPLE / "plugin.json"),
        "--config-file",
        str(EXAMPLE / "config.json"),
        "--launcher",
        "process",
        "--wait",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert (run["status"], run["launcher"], run["exit_code"]) == ("done", "process", 0)
    assert dogs(project) == [{"name": "Alice", "age": 10}]
    status = plugyard(project, "status", run["id"])
    assert f"run {run['id']}: done" in status.stdout


@pytest.mark.parametrize(
    ("metadata", "config", "message"),
    [
        ({"plugin_module": "pod_dog_plugin"}, None, "the metadata has no 'plugin_name' key"),
        (
            {"plugin_module": "pod_dog_plugin", "plugin_name": "ExamplePlugin"},
            {"dog": "x"},
            "does not accept configuration key(s) 'dog' (accepted: dog_name)",
        ),
        (
            {"plugin_module": "pod_dog_plugin", "plugin_name": "ExamplePlugin"},
            ["x"],
            "must be a JSON object, got list",
        ),
        (
            {"plugin_module": "nowhere_xyz", "plugin_name": "P"},
            None,
            "cannot import plugin_module 'nowhere_xyz'",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_problem(
    project: Path, metadata: dict[str, str], config: Any, message: str
) -> None:
    (project / "plugin.json").write_text(json.dumps(metadata))
    args = ["run-plugin", "--metadata", "plugin.json"]
    if config is not None:
        (project / "config.json").write_text(json.dumps(config))
        args += ["--config-file", "config.json"]
    result = plugyard(project, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_a_plugin_error_exits_1_with_the_traceback_stored(project: Path) -> None:
    (project / "plugin.json").write_text('{"plugin_module": "pod_fixtures", "plugin_name": "Boom"}')
    result = plugyard(
        project, "launch", "--metadata", "plugin.json", "--launcher", "process", "--wait", "--json"
    )
    assert result.returncode == 1
    run = json.loads(result.stdout)
    assert run["status"] == "error" and "Traceback" in run["traceback"]


def start_host(project: Path) -> subprocess.Popen[str]:
    """``plugyard run`` on the project, returned once it advertises its pod's URL."""
    info = project / "run" / "host.json"
    info.unlink(missing_ok=True)
    with (project / "host.log").open("a") as log:
        host = subprocess.Popen(
            [PLUGYARD, "run", "-c", str(project / "plugyard.toml")],
            env=env(),
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )
    deadline = time.monotonic() + 30
    while not (info.exists() and "pod_url" in info.read_text()):
        assert host.poll() is None, host.communicate()
        assert time.monotonic() < deadline, "the host did not advertise pod_url"
        time.sleep(0.05)
    return host


def stop_host(host: subprocess.Popen[str]) -> None:
    """Stop a host (SIGINT) and wait for it to end."""
    if host.poll() is None:
        host.send_signal(signal.SIGINT)
    host.wait(30)


@pytest.fixture
def running_host(project: Path) -> Iterator[Path]:
    host = start_host(project)
    yield project
    stop_host(host)


def wait_status(project: Path, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        shown = plugyard(project, "status", run_id, "--json")
        if json.loads(shown.stdout)["status"] == status:
            return
        assert time.monotonic() < deadline, shown.stdout
        time.sleep(0.1)


def test_credentials_and_abort_through_a_running_host(running_host: Path) -> None:
    project = running_host
    (project / "login.json").write_text('{"plugin_module": "pod_fixtures", "plugin_name": "Login"}')
    launched = plugyard(project, "launch", "--metadata", "login.json", "--json")
    assert launched.returncode == 0, launched.stderr
    run_id = json.loads(launched.stdout)["id"]
    wait_status(project, run_id, "user_action_needed")
    given = plugyard(
        project, "credentials", run_id, "--username", "ann", "--password-stdin", stdin="s3cret\n"
    )
    assert given.returncode == 0, given.stderr
    assert "s3cret" not in given.stdout + given.stderr
    wait_status(project, run_id, "done")
    logs = plugyard(project, "logs", run_id)
    assert "s3cret" not in logs.stdout

    (project / "hang.json").write_text('{"plugin_module": "pod_fixtures", "plugin_name": "Hang"}')
    hang = json.loads(plugyard(project, "launch", "--metadata", "hang.json", "--json").stdout)
    wait_status(project, hang["id"], "started")
    aborted = plugyard(project, "abort", hang["id"])
    assert aborted.returncode == 0 and f"run {hang['id']}: aborted" in aborted.stdout


def test_abort_without_a_host_names_the_run(project: Path) -> None:
    result = plugyard(project, "abort", "nope")
    assert result.returncode == 1 and "no run with id 'nope'" in result.stderr


def test_a_run_whose_host_was_killed_is_marked_failed_by_the_next_host(project: Path) -> None:
    (project / "hang.json").write_text('{"plugin_module": "pod_fixtures", "plugin_name": "Hang"}')
    first = start_host(project)
    try:
        launched = plugyard(project, "launch", "--metadata", "hang.json", "--json")
        assert launched.returncode == 0, launched.stderr
        run_id = json.loads(launched.stdout)["id"]
        wait_status(project, run_id, "started")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        stop_host(first)
    second = start_host(project)
    try:
        shown = json.loads(plugyard(project, "status", run_id, "--json").stdout)
        assert shown["status"] == "error"
        assert shown["error"].startswith(f"host died: the host that launched run {run_id} (")
        assert shown["error"].endswith("stopped before the run ended; it was started")
    finally:
        stop_host(second)
    assert f"run {run_id}: host died" in (project / "host.log").read_text()

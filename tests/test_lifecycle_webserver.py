"""The web server example end to end: install on a free port, fetch the page, uninstall, and
the server is gone; a port that is taken fails with NonRecoverableError and its cause."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from plugyard.adapters.lifecycle.local import init_env
from plugyard.adapters.lifecycle.testing import workflow_test
from plugyard.sdk.lifecycle import WorkflowFailed

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lifecycle-webserver"
BLUEPRINT = EXAMPLE / "blueprint" / "blueprint.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_install_serves_the_page_and_uninstall_stops_it(tmp_path: Path) -> None:
    port = free_port()
    env = init_env(BLUEPRINT, name="web", inputs={"port": port}, storage=tmp_path / "web.db")
    env.execute("install", task_retries=0)
    (server,) = env.storage.get_node_instances("web")
    root = Path(server.runtime_properties["webserver_root"])
    pid = int(server.runtime_properties["pid"])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        page = response.read().decode()
    assert page.strip() == f"<p>Hello plugyard! Deployment web serves this page on port {port}.</p>"
    assert env.outputs() == {"url": f"http://127.0.0.1:{port}/", "webserver_root": str(root)}
    logs = [e for e in env.storage.get_events("web") if e["topic"].endswith(".start.log")]
    assert "Starting HTTP server using" in logs[0]["data"]["message"]
    env.execute("uninstall", task_retries=0)
    assert not _alive(pid)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    env.close()


def test_a_taken_port_fails_with_the_connection_error_as_cause(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        env = init_env(BLUEPRINT, name="busy", inputs={"port": port})
        import python_webserver.tasks as tasks

        tasks_attempts = tasks.verify_server_is_up.__defaults__
        tasks.verify_server_is_up.__defaults__ = (5, 0.05)
        try:
            with pytest.raises(WorkflowFailed, match="Failed to start HTTP webserver") as info:
                env.execute("install", task_retries=2)
        finally:
            tasks.verify_server_is_up.__defaults__ = tasks_attempts
        assert info.value.error_type == "NonRecoverableError"
        assert info.value.causes[1]["type"] in (
            "URLError",
            "ConnectionRefusedError",
            "RemoteDisconnected",
            "ConnectionResetError",
        )
        env.execute("uninstall", task_retries=0)
        env.close()


class TestWithWorkflowTest:
    """The seed document's testing utility, with the same argument names."""

    def port_inputs(self) -> dict[str, int]:
        return {"port": free_port()}

    @workflow_test(
        str(BLUEPRINT),
        resources_to_copy=[
            (str(EXAMPLE / "blueprint" / "templates" / "index.html"), "templates/index.html")
        ],
        inputs="port_inputs",
    )
    def test_install_and_uninstall(self, cfy_local: object) -> None:
        env = cfy_local
        env.execute("install", task_retries=0)  # type: ignore[attr-defined]
        url = env.outputs()["url"]  # type: ignore[attr-defined]
        with urllib.request.urlopen(url, timeout=5) as response:
            assert b"Hello plugyard!" in response.read()
        env.execute("uninstall", task_retries=0)  # type: ignore[attr-defined]


def test_the_cli_installs_and_uninstalls_the_example(tmp_path: Path) -> None:
    port = free_port()
    plugyard = str(Path(sys.executable).parent / "plugyard")
    args = ["-d", "web", "--storage", str(tmp_path / "web.db")]
    done = subprocess.run(
        [
            plugyard,
            "lifecycle",
            "install",
            str(BLUEPRINT),
            "-i",
            f"port={port}",
            "--task-retries",
            "0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "start" in done.stdout
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        assert b"Hello plugyard!" in response.read()
    gone = subprocess.run(
        [plugyard, "lifecycle", "uninstall", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert gone.returncode == 0, gone.stderr
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)

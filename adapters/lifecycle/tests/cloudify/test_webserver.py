"""The web-server plugin of Cloudify's tutorial, unchanged, under cloudify-common's local
workflows and under plugyard: the same runtime properties, states and outputs, and a server
that really answered and is really gone after uninstall."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("cloudify.workflows.local", reason="cloudify-common is not installed")

BLUEPRINT = Path(__file__).parent / "blueprints" / "webserver.yaml"
Outcome = Any  # conftest.Outcome
Runner = Callable[..., Any]
INSTALL_UNINSTALL = [("install", {}), ("uninstall", {})]


def _server_pid(root: str) -> int:
    return int(Path(root, "python-webserver.pid").read_text().strip())


def _wait_gone(pid: int, deadline: float = 10.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        psutil.wait_procs([], timeout=0.05)
    return False


def _normalised(outcome: Outcome) -> tuple[object, ...]:
    (props,) = outcome.runtime_properties["http_web_server"]
    root = props["webserver_root"]
    assert Path(root, "index.html").read_text() == "<p>Hello Cloudify!</p>"
    assert _wait_gone(_server_pid(root)), "uninstall left the web server running"
    outputs = dict(outcome.outputs)
    assert outputs.pop("webserver_root") == root
    return (
        sorted(props),
        outcome.states,
        outputs,
        outcome.failed,
    )


@pytest.mark.usefixtures("cloudify_plugins", "python2_names")
def test_tutorial_plugin_gives_what_cloudify_gives(
    run_cloudify: Runner, run_plugyard: Runner, free_port: int
) -> None:
    inputs = {"port": free_port}
    theirs = run_cloudify(BLUEPRINT, INSTALL_UNINSTALL, inputs, task_retries=0)
    ours = run_plugyard(BLUEPRINT, INSTALL_UNINSTALL, inputs, task_retries=0)
    assert ours.failed == [False, False]
    assert ours.states == {"http_web_server": ["deleted"]}
    assert ours.outputs["http_endpoint"] == f"http://localhost:{free_port}"
    assert _normalised(ours) == _normalised(theirs)


@pytest.mark.usefixtures("cloudify_plugins", "python2_names")
def test_tutorial_plugin_serves_its_page_between_install_and_uninstall(
    free_port: int, tmp_path: Path
) -> None:
    from plugyard.adapters.lifecycle.local import init_env

    env = init_env(BLUEPRINT, inputs={"port": free_port}, workdirs=tmp_path)
    try:
        env.execute("install", task_retries=0)
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/", timeout=5) as page:
            assert page.read() == b"<p>Hello Cloudify!</p>"
        (instance,) = env.storage.get_node_instances(node_id="http_web_server")
        pid = _server_pid(instance.runtime_properties["webserver_root"])
        assert psutil.pid_exists(pid)
        env.execute("uninstall", task_retries=0)
        assert _wait_gone(pid)
    finally:
        env.close()

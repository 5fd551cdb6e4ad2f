"""End to end: ``plugyard worker`` processes, ``plugyard tasks`` and the example client, on the
embedded broker, Redis and RabbitMQ."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import ROOT, Setup, install_example, make_setup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FIB = "gwexample.analyses.tasks.fibonacci"
SAMPLE = "celery_sample.tasks"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_example(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module", params=["embedded", "redis", "rabbitmq"])
def worker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, example_site: Path
) -> Iterator[tuple[Setup, Path]]:
    tmp = tmp_path_factory.mktemp(request.param)
    for setup in make_setup(request.param, tmp, example_site):
        log = tmp / "worker.log"
        setup.start_worker(log, "-c", "2")
        yield setup, log


def _wait_status(setup: Setup, task_id: str, wanted: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(setup.tasks("status", task_id).stdout)
        if status["status"] == wanted:
            return status
        assert time.monotonic() < deadline, f"still {status} after {timeout}s"
        time.sleep(0.2)


def test_banner_lists_plugin_tasks(worker: tuple[Setup, Path]) -> None:
    _, log = worker
    text = log.read_text()
    assert f"  . {FIB}" in text
    assert f"  . {SAMPLE}.add" in text


def test_example_client_prints_121393(worker: tuple[Setup, Path]) -> None:
    setup, _ = worker
    client = ROOT / "examples" / "celery-fibonacci" / "example_client.py"
    out = subprocess.run(
        [sys.executable, str(client)],
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "121393"


def test_send_wait_status_and_list(worker: tuple[Setup, Path]) -> None:
    setup, _ = worker
    out = setup.tasks("send", f"{SAMPLE}.add", "2", "3", "--wait").stdout.split()
    task_id, value = out
    assert value == "5"
    assert _wait_status(setup, task_id, "success")["name"] == f"{SAMPLE}.add"
    assert FIB in setup.tasks("list").stdout.split()


def test_cancel_a_running_cancelable_task(worker: tuple[Setup, Path]) -> None:
    setup, _ = worker
    # The task runs until it sees the cancel (or for two minutes), so the cancel always wins.
    task_id = setup.tasks("send", f"{SAMPLE}.until_canceled", "0.01", "120").stdout.strip()
    _wait_status(setup, task_id, "running")
    reply = json.loads(setup.tasks("cancel", task_id).stdout)
    # "canceled" when the task saw the flag and stopped before the reply was read back
    assert reply["status"] in ("canceling", "canceled")
    status = _wait_status(setup, task_id, "canceled")
    assert status["cancel_requested"] is True
    assert status.get("reason") != "canceled while queued"  # it was running, and stopped


def test_cancel_queued_task_never_runs(worker: tuple[Setup, Path]) -> None:
    setup, _ = worker
    task_id = setup.tasks("send", f"{SAMPLE}.add", "1", "2", "--queue", "nobody").stdout.strip()
    reply = json.loads(setup.tasks("cancel", task_id).stdout)
    assert reply["status"] == "canceled"
    assert _wait_status(setup, task_id, "canceled")["reason"] == "canceled while queued"


def test_plugyard_run_executes_tasks_in_process(tmp_path: Path, example_site: Path) -> None:
    """``plugyard run`` alone (no worker process) runs tasks sent from another process."""
    import os
    import signal

    from _celery_helpers import PLUGYARD

    for setup in make_setup("embedded", tmp_path, example_site):
        host = subprocess.Popen(
            [PLUGYARD, "run", "-c", str(setup.config)],
            env=setup.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out = setup.tasks("send", f"{SAMPLE}.add", "20", "22", "--wait", timeout=60)
            assert out.stdout.split()[1] == "42"
            status = json.loads(setup.tasks("status", out.stdout.split()[0]).stdout)
            assert status["pid"] == host.pid  # the host's own worker thread ran it
        finally:
            host.send_signal(signal.SIGINT)
            _, err = host.communicate(timeout=30)
        assert host.returncode == 0, err
        assert "plugyard: host stopped" in err
        assert not os.path.exists(tmp_path / "state" / "host.json")


# Last in the module: a hard time limit kills a worker child, so nothing should follow it
# on the shared worker.
def test_failure_and_time_limit_end_in_error(worker: tuple[Setup, Path]) -> None:
    setup, _ = worker
    failed = setup.tasks("send", f"{SAMPLE}.fail", "boom", "--wait", check=False)
    assert failed.returncode == 1
    assert "ValueError: boom" in failed.stderr
    task_id = failed.stdout.split()[0]
    status = _wait_status(setup, task_id, "error")
    assert "raise ValueError" in status["traceback"]
    slow = setup.tasks("send", f"{SAMPLE}.overrun", "10").stdout.strip()  # its limit is 3 s
    status = _wait_status(setup, slow, "error", timeout=30)
    assert "TimeLimitExceeded" in status["error"]

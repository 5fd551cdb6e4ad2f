"""Faults: a worker killed mid-task, a cancel that must survive a worker restart, a plain task
terminated on request, and a broker that is down."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import Setup, make_setup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SAMPLE = "celery_sample.tasks"


def _status(setup: Setup, task_id: str) -> dict[str, Any]:
    out = setup.tasks("status", task_id, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _wait(setup: Setup, task_id: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (status := _status(setup, task_id))["status"] != wanted:
        assert time.monotonic() < deadline, f"still {status} after {timeout}s"
        time.sleep(0.2)
    return status


@pytest.fixture(params=["redis", "rabbitmq"])
def acks_late(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    yield from make_setup(
        request.param,
        tmp_path,
        tmp_path,
        task_acks_late="true",
        worker_prefetch_multiplier="1",
        broker_transport_options="{ visibility_timeout = 4, unacked_restore_interval = 1 }",
    )


def test_worker_killed_mid_task_runs_it_again_and_it_finishes_once(
    acks_late: Setup, tmp_path: Path
) -> None:
    import psutil

    first = acks_late.start_worker(tmp_path / "a.log", "-c", "1", "-n", "a@%h")
    second = acks_late.start_worker(tmp_path / "b.log", "-c", "1", "-n", "b@%h")
    runs = tmp_path / "runs.txt"
    task_id = acks_late.tasks("send", f"{SAMPLE}.once", str(runs), "2").stdout.strip()
    deadline = time.monotonic() + 20
    while not runs.exists() or not runs.read_text().strip():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    child = int(runs.read_text().split()[0])
    victim = next(
        w for w in (first, second) if w.pid in {p.pid for p in psutil.Process(child).parents()}
    )
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    status = _wait(acks_late, task_id, "success", timeout=60)
    lines = runs.read_text().split()
    assert len(lines) == 2  # killed once, then run to the end once on the other worker
    assert status["pid"] == int(lines[1])
    result = acks_late.tasks("send", f"{SAMPLE}.add", "1", "1", "--wait").stdout.split()[1]
    assert result == "2"  # the surviving worker still serves


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Setup]:
    yield from make_setup("embedded", tmp_path, tmp_path)


def test_cancel_while_queued_survives_a_worker_restart(embedded: Setup, tmp_path: Path) -> None:
    task_id = embedded.tasks("send", f"{SAMPLE}.add", "1", "2", "--queue", "later").stdout.strip()
    assert json.loads(embedded.tasks("cancel", task_id).stdout)["status"] == "canceled"
    embedded.start_worker(tmp_path / "w.log", "-Q", "later")
    ran = embedded.tasks("send", f"{SAMPLE}.add", "2", "2", "--queue", "later", "--wait")
    assert ran.stdout.split()[1] == "4"  # the worker consumed the queue past the canceled task
    status = _status(embedded, task_id)
    assert status["status"] == "canceled"
    assert "worker" not in status  # it never ran
    assert f"[{task_id}] was canceled before it ran; skipped" in (tmp_path / "w.log").read_text()


@pytest.fixture
def redis_setup(tmp_path: Path) -> Iterator[Setup]:
    yield from make_setup("redis", tmp_path, tmp_path)


def test_terminate_a_plain_running_task(redis_setup: Setup, tmp_path: Path) -> None:
    redis_setup.start_worker(tmp_path / "w.log", "-c", "1")
    task_id = redis_setup.tasks("send", f"{SAMPLE}.sleeper", "30").stdout.strip()
    _wait(redis_setup, task_id, "running")
    started = time.monotonic()
    redis_setup.tasks("cancel", task_id, "--terminate")
    status = _wait(redis_setup, task_id, "canceled", timeout=15)
    assert status["reason"] == "terminated"
    assert time.monotonic() - started < 10


def test_broker_down_send_fails_clearly_and_quickly(tmp_path: Path) -> None:
    for setup in make_setup("embedded", tmp_path, tmp_path, broker_url='"redis://127.0.0.1:1/0"'):
        started = time.monotonic()
        out = setup.tasks("send", f"{SAMPLE}.add", "1", "2", check=False, timeout=60)
        assert out.returncode != 0
        assert "cannot send 'celery_sample.tasks.add' to redis://127.0.0.1:1/0" in out.stderr
        assert time.monotonic() - started < 30


def test_broker_down_worker_retries_with_backoff_then_exits(tmp_path: Path) -> None:
    import subprocess

    from _celery_helpers import PLUGYARD

    for setup in make_setup(
        "embedded",
        tmp_path,
        tmp_path,
        broker_url='"redis://127.0.0.1:1/0"',
        broker_connection_max_retries="2",
    ):
        out = subprocess.run(
            [
                PLUGYARD,
                "worker",
                "--config",
                str(setup.config),
                "-l",
                "info",
                "--without-mingle",
                "--without-gossip",
            ],
            env=setup.env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        log = out.stdout + out.stderr
        assert "Cannot connect to redis://:**@127.0.0.1:1/0" in log
        assert "Trying again in 2.00 seconds... (1/2)" in log
        assert "Trying again in 4.00 seconds... (2/2)" in log
        assert out.returncode != 0

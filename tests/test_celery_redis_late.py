"""Redis down when the host starts is not permanent: the celery adapter keeps retrying, and
recovers (job events relayed, the embedded worker consuming) once Redis answers; ``restart
name=celery`` reconnects it on demand."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import PLUGYARD, SAMPLE_PLUGINS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _until(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.2)
    return found


class Late:
    """A project whose broker and result backend are a Redis server not started yet."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.redis: int | None = None
        self.config = folder / "plugyard.toml"
        url = f"redis://127.0.0.1:{self.port}/0"
        self.config.write_text(
            # hooks get the time a busy machine needs to stop and start an embedded worker
            f'[host]\nname = "late"\nruntime_dir = "{folder / "run"}"\nhook_timeout = 60\n\n'
            f'[celery]\nbroker_url = "{url}"\nresult_backend = "{url}"\n\n'
            '[plugins.sample]\nuse = "celery_sample:SamplePlugin"\n'
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")},
            "PYTHONPATH": str(SAMPLE_PLUGINS),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [PLUGYARD, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=self.folder,
        )
        assert not check or done.returncode == 0, done.stderr
        return done

    def call(self, *args: str) -> dict[str, Any]:
        # an adapter's restart stops and starts its embedded worker: slow on a busy machine
        done = self.run("call", "-c", str(self.config), "--timeout", "150", *args)
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def task_status(self, task_id: str) -> str:
        out = self.run("tasks", "status", task_id, "--config", str(self.config))
        return str(json.loads(out.stdout)["status"])

    def start_redis(self) -> None:
        pidfile = self.folder / "redis.pid"
        subprocess.run(
            [
                shutil.which("redis-server") or "redis-server",
                "--daemonize", "yes",
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
                "--logfile", str(self.folder / "redis.log"),
                "--pidfile", str(pidfile),
            ],
            check=True,
            timeout=30,
        )  # fmt: skip
        text = _until("redis wrote its pid", lambda: pidfile.exists() and pidfile.read_text())
        self.redis = int(text)

    def stop_redis(self) -> None:
        if self.redis is not None:
            os.kill(self.redis, signal.SIGTERM)
            self.redis = None


@pytest.fixture
def late(tmp_path: Path) -> Iterator[Late]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    project = Late(tmp_path)
    try:
        yield project
    finally:
        project.stop_redis()


def test_redis_down_at_start_recovers_once_redis_is_back(late: Late) -> None:
    log = (late.folder / "host.log").open("w")
    host = subprocess.Popen(
        [PLUGYARD, "run", "-c", str(late.config)],
        env=late.env,
        cwd=late.folder,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        info = late.folder / "run" / "host.json"
        _until(
            "the host advertised celery",
            lambda: info.exists() and '"celery"' in info.read_text(),
            timeout=180,
        )
        assert late.call("status", "name=celery")["status"] != "failed"
        _until(
            "the host logged that the job store cannot be reached",
            lambda: "the job store cannot be reached" in (late.folder / "host.log").read_text(),
        )

        late.start_redis()
        sent = late.run(
            "tasks", "send", "celery_sample.tasks.add", "1", "2", "--config", str(late.config)
        )
        task_id = sent.stdout.strip()
        _until("the task succeeded", lambda: late.task_status(task_id) == "success")
        _until(
            "the relay reached the job store",
            lambda: "the job store answers again" in (late.folder / "host.log").read_text(),
        )

        restart = late.run(
            "call",
            "-c",
            str(late.config),
            "--timeout",
            "150",
            "restart",
            "name=celery",
            check=False,
        )
        assert restart.returncode == 0, (
            restart.stderr + "\n--- host log ---\n" + (late.folder / "host.log").read_text()
        )
        restarted = json.loads(restart.stdout)
        assert restarted["name"] == "celery"
        assert late.call("status", "name=celery")["status"] != "failed"
        again = late.run(
            "tasks", "send", "celery_sample.tasks.add", "2", "3", "--config", str(late.config)
        )
        _until(
            "a task after the restart succeeded",
            lambda: late.task_status(again.stdout.strip()) == "success",
        )
    finally:
        if host.poll() is None:
            host.send_signal(signal.SIGINT)
        host.wait(60)
        log.close()
    assert host.returncode == 0, (late.folder / "host.log").read_text()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_send_with_the_broker_down_fails_fast_and_leaves_no_queued_job(
    late: Late, backend: str
) -> None:
    if backend == "sqlite":  # the broker alone is down; results and jobs are local files
        text = late.config.read_text()
        late.config.write_text(
            "\n".join(line for line in text.splitlines() if not line.startswith("result_backend"))
        )
    log = (late.folder / "host.log").open("w")
    host = subprocess.Popen(
        [PLUGYARD, "run", "-c", str(late.config)],
        env=late.env,
        cwd=late.folder,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        info = late.folder / "run" / "host.json"
        _until(
            "the host advertised celery",
            lambda: info.exists() and '"celery"' in info.read_text(),
            timeout=180,
        )
        started = time.monotonic()
        add = "name=celery_sample.tasks.add"
        sent = late.run(
            "call", "-c", str(late.config), "tasks.send", add, "args=[1,2]", check=False
        )
        took = time.monotonic() - started
        assert sent.returncode != 0
        assert "cannot send 'celery_sample.tasks.add' to redis://127.0.0.1:" in sent.stderr
        assert "is the broker running?" in sent.stderr
        assert "Traceback" not in sent.stderr
        assert "is it running" not in sent.stderr, "the host answered, it is running"
        assert took < 15, took
        assert late.call("status")["statuses"]["celery"] != "failed"
        if backend == "sqlite":
            import sqlite3

            with sqlite3.connect(late.folder / "run" / "celery-jobs.sqlite") as db:
                rows = db.execute("SELECT status, info FROM jobs").fetchall()
            assert [status for status, _ in rows] == ["error"], rows
            assert json.loads(rows[0][1])["not_sent"] is True
    finally:
        if host.poll() is None:
            host.send_signal(signal.SIGINT)
        host.wait(60)
        log.close()

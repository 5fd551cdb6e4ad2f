"""Girder's job API as a destination, and girder_worker's own worker side by side.

A task sent with girder_worker's job headers (``jobInfoSpec``, ``girder_api_url``,
``girder_client_token``) reports its status, progress and log to the job's URL. The same
unmodified plugin runs on ``plugyard worker`` and on girder-worker's own worker
(``celery -A girder_worker.app worker``), and a local HTTP server in the test records what
each one sends to "Girder"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import Setup, _rabbit_vhost
from _girder_helpers import CHATTY, FIB, WAITER, install_plugins, make_setup

pytest.importorskip("girder_worker", reason="girder-worker is not installed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CLIENT = str(Path(__file__).parent / "_girder_client.py")
CELERY = str(Path(sys.executable).parent / "celery")

RUNNING, SUCCESS, CANCELED = "2", "3", "5"


class Girder:
    """A stand-in for Girder's job endpoint: records every request to ``/api/v1/job/ID``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        girder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size).decode() if size else ""
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                with girder.changed:
                    girder.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "token": self.headers.get("Girder-Token"),
                            "form": form,
                        }
                    )
                    girder.changed.notify_all()
                reply = json.dumps({"status": girder.last_status()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_PUT = do_GET = do_POST = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, job: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/job/{job}"

    def last_status(self) -> int:
        found = [r["form"]["status"] for r in self.requests if "status" in r["form"]]
        return int(found[-1]) if found else 0

    def of(self, job: str) -> list[dict[str, Any]]:
        with self.changed:
            return [r for r in self.requests if r["path"] == f"/api/v1/job/{job}"]

    def wait_for_status(self, job: str, status: str, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not any(r["form"].get("status") == status for r in self.of(job)):
                left = deadline - time.monotonic()
                assert left > 0, f"job {job}: no status {status} in {self.of(job)}"
                self.changed.wait(left)
        return self.of(job)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def girder() -> Iterator[Girder]:
    server = Girder()
    yield server
    server.close()


def send(env: dict[str, str], broker: str, task: str, args: list[Any], *opts: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, CLIENT, broker, task, json.dumps(args), *opts],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return out.stdout.splitlines()


def summary(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """What Girder keeps of a job: its statuses in order, its log, its last progress."""
    statuses = [r["form"]["status"] for r in requests if "status" in r["form"]]
    log = "".join(r["form"].get("log", "") for r in requests)
    progress = [
        (r["form"].get("progressTotal"), r["form"].get("progressCurrent"))
        for r in requests
        if "progressTotal" in r["form"]
    ]
    return {
        "methods": sorted({r["method"] for r in requests}),
        "tokens": sorted({r["token"] for r in requests}),
        "statuses": statuses,
        "log": log,
        "progress": progress[-1] if progress else None,
        "message": next(
            (r["form"]["progressMessage"] for r in requests if "progressMessage" in r["form"]),
            None,
        ),
    }


EXPECTED = {
    "methods": ["PUT"],
    "tokens": ["token-1"],
    "statuses": [RUNNING, SUCCESS],
    "progress": ("4", "3"),
    "message": "almost there",
}


def check_chatty(found: dict[str, Any]) -> None:
    for key, value in EXPECTED.items():
        assert found[key] == value, key
    assert "hello from chatty, ada\n" in found["log"]
    assert "a warning on stderr\n" in found["log"]
    assert "written to the job log\n" in found["log"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_plugins(tmp_path_factory.mktemp("plugins"), "gw_arith")


def test_a_girder_job_hears_status_progress_and_log_from_plugyard(
    tmp_path: Path, site: Path, girder: Girder
) -> None:
    setup = make_setup(tmp_path, site)
    try:
        setup.start_worker(tmp_path / "worker.log", "-c", "2")
        task_id = send(setup.env, "plugyard", CHATTY, ["ada"], "--job", girder.url("j1"))[0]
        requests = girder.wait_for_status("j1", SUCCESS)
        check_chatty(summary(requests))
        # plugyard's own job store has the run too.
        status = json.loads(setup.tasks("status", task_id).stdout)
        assert status["status"] == "success"
        assert "hello from chatty, ada" in setup.tasks("log", task_id).stdout
    finally:
        setup.stop_workers()


def test_a_canceled_task_ends_its_girder_job_canceled(
    tmp_path: Path, site: Path, girder: Girder
) -> None:
    """Canceled while it runs (it sees ``self.canceled``), and canceled while queued (it
    never runs): Girder hears CANCELED for both."""
    setup = make_setup(tmp_path, site)
    try:
        setup.start_worker(tmp_path / "worker.log", "-c", "1")
        started = tmp_path / "started"
        running = send(setup.env, "plugyard", WAITER, [str(started)], "--job", girder.url("r"))[0]
        queued = send(setup.env, "plugyard", FIB, [3], "--job", girder.url("q"))[0]
        girder.wait_for_status("r", RUNNING)
        assert girder.of("q") == []  # one worker process, busy: the second task waits
        setup.tasks("cancel", queued)
        setup.tasks("cancel", running)
        statuses = [r["form"].get("status") for r in girder.wait_for_status("r", CANCELED)]
        assert [s for s in statuses if s] == [RUNNING, CANCELED]
        statuses = [r["form"].get("status") for r in girder.wait_for_status("q", CANCELED)]
        assert [s for s in statuses if s] == [CANCELED]
        for task_id in (running, queued):
            assert json.loads(setup.tasks("status", task_id).stdout)["status"] == "canceled"
    finally:
        setup.stop_workers()


@pytest.fixture
def rabbit(site: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Two vhosts (or queues) on the local RabbitMQ: one for each worker."""
    from plugyard.sdk.testing import require_service

    require_service("rabbitmq")
    made: list[str] = []
    found: dict[str, str] = {}
    for side in ("plugyard", "girder"):
        vhost = _rabbit_vhost()
        if vhost is None:
            found[side] = "amqp://guest:guest@127.0.0.1:5672//"
            found[f"{side}-queue"] = f"plugyard-test-{uuid.uuid4().hex[:8]}"
        else:
            made.append(vhost)
            found[side] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    yield found
    for vhost in made:
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_vhost", vhost], timeout=30, capture_output=True
        )


def start_girder_worker(env: dict[str, str], log: Path, queue: str | None) -> Any:
    """girder-worker's own worker: ``celery -A girder_worker.app worker``."""
    argv = [CELERY, "-A", "girder_worker.app", "worker", "-l", "info", "-c", "2"]
    argv += ["--without-mingle", "--without-gossip", *(["-Q", queue] if queue else [])]
    out = log.open("wb")
    proc = subprocess.Popen(
        argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"girder-worker did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return proc


def stop(proc: Any) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def test_side_by_side_with_girder_workers_own_worker_on_rabbitmq(
    tmp_path: Path, site: Path, girder: Girder, rabbit: dict[str, str]
) -> None:
    queue = rabbit.get("plugyard-queue")
    extra = [f'broker_url = "{rabbit["plugyard"]}"']
    if queue:
        extra.append(f'task_default_queue = "{queue}"')
    setup: Setup = make_setup(tmp_path, site, *extra)
    girder_queue = rabbit.get("girder-queue")
    girder_env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "GIRDER_WORKER_BROKER": rabbit["girder"],
        "GIRDER_WORKER_BACKEND": rabbit["girder"].replace("amqp://", "rpc://"),
        # girder_worker accepts pickle: Celery refuses to run it as root without this.
        "C_FORCE_ROOT": "1",
    }
    theirs = None
    try:
        setup.start_worker(tmp_path / "plugyard-worker.log", "-c", "2")
        theirs = start_girder_worker(girder_env, tmp_path / "girder-worker.log", girder_queue)

        # Both list the plugin's task, and return the same result.
        assert f"  . {FIB}" in (tmp_path / "girder-worker.log").read_text()
        assert FIB in setup.tasks("list").stdout.split()
        _, ours = setup.tasks("send", FIB, "20", "--wait").stdout.splitlines()
        backend = girder_env["GIRDER_WORKER_BACKEND"]
        opts = ["--wait", backend, *(["--queue", girder_queue] if girder_queue else [])]
        _, their_result = send(girder_env, rabbit["girder"], FIB, [20], *opts)
        assert ours == their_result == "6765"

        # The same task, sent with the same Girder job headers to each worker.
        send(setup.env, "plugyard", CHATTY, ["ada"], "--job", girder.url("ours"))
        their_opts = ["--job", girder.url("theirs")]
        if girder_queue:
            their_opts += ["--queue", girder_queue]
        send(girder_env, rabbit["girder"], CHATTY, ["ada"], *their_opts)
        ours_seen = summary(girder.wait_for_status("ours", SUCCESS))
        theirs_seen = summary(girder.wait_for_status("theirs", SUCCESS))
        check_chatty(theirs_seen)
        check_chatty(ours_seen)
        assert ours_seen == theirs_seen
    finally:
        setup.stop_workers()
        if theirs is not None:
            stop(theirs)

"""Pod runs on Celery workers: the ``celery`` launcher, a ``plugyard worker`` process, and a
PostgreSQL pod that several hosts share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.celery import adapter as celery_adapter
from plugyard.adapters.pod import PodService
from plugyard.adapters.pod import adapter as pod_adapter
from plugyard.host import Host
from plugyard.sdk.testing import require_service

HERE = Path(__file__).resolve().parent
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
PG = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"

pytestmark = [pytest.mark.timeout(600), pytest.mark.services]
PATIENT = {"startup_timeout": 120.0}
"""A loaded CI machine can take seconds to import an adapter: these tests are not about that."""


@pytest.fixture
def schema() -> Iterator[str]:
    """A PostgreSQL schema of this test's own, dropped after."""
    require_service("postgresql")
    import sqlalchemy

    name = f"podcel_{uuid.uuid4().hex[:10]}"
    yield name
    engine = sqlalchemy.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture
def queue() -> Iterator[str]:
    """A Celery queue (and job-store prefix) of this test's own, deleted from Redis after."""
    require_service("redis")
    import redis

    name = f"plugyard-test-pod-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS)
    client.delete(name, *client.scan_iter(f"{name}*"))
    client.close()


def celery_table(queue: str) -> dict[str, Any]:
    return {
        "broker_url": REDIS,
        "result_backend": REDIS,
        "key_prefix": f"{queue}:",
        "embedded_worker": False,
    }


SPEC_WRAPPER = """
import runpy, sys
import plugyard.sdk
import plugyard.sdk._versions
plugyard.sdk._versions.SPEC_VERSION = plugyard.sdk.SPEC_VERSION = sys.argv.pop(1)
sys.argv[0] = {plugyard!r}
runpy.run_path({plugyard!r}, run_name="__main__")
"""
"""Runs ``plugyard`` ARGS with its hook spec version replaced by the first argument."""


def start_worker(tmp_path: Path, queue: str, spec: str | None = None) -> subprocess.Popen[bytes]:
    """``plugyard worker -Q QUEUE`` with the pod run task loaded; returns once it is ready.
    With ``spec``, a worker whose plugyard speaks that hook spec version."""
    command = [PLUGYARD]
    if spec is not None:
        wrapper = tmp_path / "plugyard_spec.py"
        wrapper.write_text(SPEC_WRAPPER.format(plugyard=PLUGYARD), encoding="utf-8")
        command = [sys.executable, str(wrapper), spec]
    config = tmp_path / "worker.toml"
    config.write_text(
        f"""
[host]
name = "podworker"
runtime_dir = "{tmp_path / "worker-run"}"
startup_timeout = 120
autoload = false
adapters = ["celery"]
python_path = ["{HERE}"]

[celery]
broker_url = "{REDIS}"
result_backend = "{REDIS}"
key_prefix = "{queue}:"
embedded_worker = false

[plugins.pod_runs]
use = "plugyard.adapters.pod:PodRunTasks"
""",
        encoding="utf-8",
    )
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                *command,
                "worker",
                "--config",
                str(config),
                "-Q",
                queue,
                "-P",
                "solo",
                "-l",
                "info",
                "--without-mingle",
                "--without-gossip",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while b" ready." not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_worker(worker)
            raise AssertionError(f"the worker did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return worker


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


async def test_a_run_on_a_celery_worker_stores_items_another_host_reads(
    tmp_path: Path, schema: str, queue: str
) -> None:
    worker = start_worker(tmp_path, queue)
    try:
        host = Host(
            {
                "host": {"name": "podhost", "runtime_dir": str(tmp_path / "run"), **PATIENT},
                "celery": celery_table(queue),
                "pod": {"database": PG, "db_schema": schema, "celery": {"queue": queue}},
            },
            autoload=False,
            adapters={"pod": pod_adapter, "celery": celery_adapter},
        )
        async with host:
            pod = PodService.of(host)
            run = await pod.launch(
                {
                    "plugin_module": "pod_fixtures",
                    "plugin_name": "Writer",
                    "config": {"count": 3, "tag": "remote"},
                },
                "celery",
            )
            final = await pod.wait(run["id"], 180)
            assert (final["status"], final["exit_code"], final["launcher"]) == (
                "done",
                0,
                "celery",
            ), final
        log = (tmp_path / "worker.log").read_text()
        assert "plugyard.pod.run" in log and "succeeded" in log

        # a second host on the same PostgreSQL pod reads what the run wrote
        reader = Host(
            {
                "host": {"name": "podreader", "runtime_dir": str(tmp_path / "run2"), **PATIENT},
                "pod": {"database": PG, "db_schema": schema},
            },
            autoload=False,
            adapters={"pod": pod_adapter},
        )
        async with reader:
            notes = PodService.of(reader).client().search({"type": "Note"})
            assert sorted(n.text for n in notes) == ["remote-0", "remote-1", "remote-2"]
            stored = PodService.of(reader).client().get_run(run["id"])
            assert (stored.status, stored.launcher) == ("done", "celery")
    finally:
        stop_worker(worker)


async def test_a_worker_of_another_hook_spec_major_refuses_the_run(
    tmp_path: Path, schema: str, queue: str
) -> None:
    from plugyard.sdk import SPEC_VERSION

    other = f"{int(SPEC_VERSION.split('.')[0]) + 1}.0"
    worker = start_worker(tmp_path, queue, spec=other)
    try:
        host = Host(
            {
                "host": {"name": "podhost", "runtime_dir": str(tmp_path / "run"), **PATIENT},
                "celery": celery_table(queue),
                "pod": {"database": PG, "db_schema": schema, "celery": {"queue": queue}},
            },
            autoload=False,
            adapters={"pod": pod_adapter, "celery": celery_adapter},
        )
        async with host:
            pod = PodService.of(host)
            run = await pod.launch(
                {"plugin_module": "pod_fixtures", "plugin_name": "Writer", "config": {}},
                "celery",
            )
            final = await pod.wait(run["id"], 180)
            assert final["status"] == "error", final
    finally:
        stop_worker(worker)
    log = (tmp_path / "worker.log").read_text()
    assert f"speaks hook spec {other}" in log
    for text in (final["error"], log):
        assert f"this worker speaks hook spec {other}" in text, text
        assert f"the host that sent it speaks {SPEC_VERSION}" in text, text

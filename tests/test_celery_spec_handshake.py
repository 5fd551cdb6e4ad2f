"""Remote workers and the hook spec version: a ``plugyard worker`` of another major version
refuses a task a host sends (both sides say why), and a task sent by a plain Celery client,
without the version header, still runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugyard.sdk import SPEC_VERSION

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import Setup, make_setup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

OTHER = f"{int(SPEC_VERSION.split('.')[0]) + 1}.0"
"""A hook spec version of the next major: what a worker of a later plugyard speaks."""

PLAIN_SEND = """
import sys
import celery
from plugyard.adapters.celery import client_service
service = client_service(sys.argv[1])
result = celery.Celery.send_task(service.app, "celery_sample.tasks.add", args=[2, 3])
print(result.get(timeout=60))
"""
"""Send a task as a plain Celery client does: no plugyard header."""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    yield from make_setup("embedded", tmp_path, tmp_path)


def start_other_worker(setup: Setup, tmp_path: Path) -> Path:
    """A ``plugyard worker`` that speaks ``OTHER``; its log file once it is ready."""
    log = tmp_path / "worker.log"
    setup.start_worker(log, "-P", "solo", spec=OTHER)
    return log


def test_a_worker_of_another_major_refuses_a_host_task_and_both_sides_say_why(
    setup: Setup, tmp_path: Path
) -> None:
    log = start_other_worker(setup, tmp_path)
    assert f"plugyard worker: speaks hook spec {OTHER}" in log.read_text()

    sent = setup.tasks("send", "celery_sample.tasks.add", "2", "3", "--wait", check=False)
    assert sent.returncode == 1, sent.stdout + sent.stderr
    task_id = sent.stdout.strip().splitlines()[0]
    assert "SpecVersionMismatch" in sent.stderr
    for text in (sent.stderr, log.read_text()):
        assert f"this worker speaks hook spec {OTHER}" in text, text
        assert f"the host that sent it speaks {SPEC_VERSION}" in text, text
        assert "a different major version" in text, text

    status = json.loads(setup.tasks("status", task_id).stdout)
    deadline = time.monotonic() + 30
    while status["status"] != "error":
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
        status = json.loads(setup.tasks("status", task_id).stdout)
    assert f"speaks {SPEC_VERSION}" in json.dumps(status), status


def test_a_task_without_the_version_header_still_runs(setup: Setup, tmp_path: Path) -> None:
    start_other_worker(setup, tmp_path)
    script = tmp_path / "plain_send.py"
    script.write_text(PLAIN_SEND, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(script), str(setup.config)],
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "5"

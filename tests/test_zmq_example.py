"""The zmq-event-logger example: a host runs the ported Logger, which writes events back."""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "zmq-event-logger"


@pytest.fixture
def example_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    src = str(EXAMPLE / "src")
    monkeypatch.syspath_prepend(src)
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", src + (os.pathsep + path if path else ""))


async def test_the_logger_example_writes_published_events_to_its_file(
    example_importable: None, tmp_path: Path
) -> None:
    from plugyard.adapters.zmq import adapter
    from plugyard.host.testing import run_host

    runtime = Path(tempfile.mkdtemp(prefix="pyz-"))
    log = tmp_path / "circus-events.log"
    config = {
        "host": {"name": "example", "runtime_dir": str(runtime)},
        "plugins": {"logger": {"use": "zmq_event_logger:Logger", "filename": str(log)}},
    }
    try:
        async with run_host(config=config, adapters=[adapter]) as host:
            assert host.registry.get("logger").state == "started"
            host.publish("deploy.web.finished", version="1.2")
            host.publish("deploy.db.failed", reason="disk full")
            for _ in range(250):
                if log.exists() and "failed db::" in log.read_text():
                    break
                await asyncio.sleep(0.02)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    lines = log.read_text().splitlines()
    finished = next(line for line in lines if line.startswith("finished web::"))
    message = ast.literal_eval(finished.split("::", 1)[1])
    assert message["data"] == {"version": "1.2"} and message["source"] == "host"
    assert any(line.startswith("failed db::") and "disk full" in line for line in lines)
    assert any(line.startswith("started logger::") for line in lines)

"""Two host processes, run by the ``plugyard`` CLI, sharing one event stream through Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from plugyard.sdk.testing import require_service

HERE = Path(__file__).resolve().parent
PLUGYARD = str(Path(sys.executable).parent / "plugyard")


@pytest.fixture
def stream() -> Iterator[str]:
    require_service("redis")
    name = f"plugyard-test:{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis()
    client.delete(name, *client.scan_iter(f"{name}:*"))
    client.close()


def write_config(folder: Path, name: str, stream: str, adapters: list[str], extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "plugyard.toml"
    config.write_text(
        f"""
[host]
name = "{name}"
runtime_dir = "run"
# a loaded CI machine can take seconds to import an adapter: the test is not about that
startup_timeout = 120
autoload = false
adapters = {adapters!r}
python_path = ["{HERE}"]

[events]
bridge = "redis://127.0.0.1:6379/0"
stream = "{stream}"
block = 0.2

{extra}
""",
        encoding="utf-8",
    )
    return config


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    return {**base, **extra}


def wait_for(condition: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g}s for {condition}")
        time.sleep(0.05)


def lines(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        origin, n = line.split()
        found.append((origin, int(n)))
    return found


class Receiver:
    """Host B: an async event plugin that records each ``tick`` with its origin."""

    def __init__(self, folder: Path, stream: str, out: Path) -> None:
        extra = """
[asyncio]
queue_size = 5000
events = { tick = { type = "bridge_plugins:Tick" } }

[http]
enabled = false

[plugins.ticks]
use = "bridge_plugins:TickRecorder"
"""
        self.config = write_config(folder, "b", stream, ["bridge", "asyncio"], extra)
        self.folder = folder
        self.out = out
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        info = self.folder / "run" / "host.json"
        info.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [PLUGYARD, "run", "-c", str(self.config)],
            cwd=self.folder,
            env=env(BRIDGE_TEST_OUT=str(self.out)),
            stderr=open(self.folder / "stderr.log", "ab"),  # noqa: SIM115
        )
        process = self.process
        wait_for(
            "host b to start (host.json)",
            lambda: info.exists() or process.poll() is not None,
            180,
        )
        log = (self.folder / "stderr.log").read_text(errors="replace")
        assert process.poll() is None, log
        assert "failed" not in log, log

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def emit(folder: Path, stream: str, count: int, start: int) -> str:
    """Run host A until it has published ``count`` ticks; returns its host id."""
    extra = f"""
[plugins.burst]
use = "bridge_plugins:Burst"
count = {count}
start = {start}
"""
    config = write_config(folder, "a", stream, ["bridge"], extra)
    origin = folder / "origin"
    done = subprocess.run(
        [PLUGYARD, "run", "-c", str(config)],
        cwd=folder,
        env=env(BRIDGE_TEST_ORIGIN=str(origin)),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "never written" not in done.stderr, done.stderr
    return origin.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_events_of_one_host_process_reach_an_async_plugin_of_another_in_order(
    stream: str, tmp_path: Path
) -> None:
    out = tmp_path / "ticks.txt"
    b = Receiver(tmp_path / "b", stream, out)
    try:
        b.start()
        first = emit(tmp_path / "a", stream, 1000, 0)
        wait_for("1,000 ticks on host b", lambda: len(lines(out)) >= 1000, 180)
        got = lines(out)
        assert [n for _, n in got] == list(range(1000))
        assert {origin for origin, _ in got} == {first}

        # b stops; a publishes 500 more; b, back, delivers what it missed
        b.stop()
        second = emit(tmp_path / "a", stream, 500, 1000)
        assert second != first
        assert len(lines(out)) == 1000
        b.start()
        wait_for("the 500 ticks b missed", lambda: len(lines(out)) >= 1500, 180)
        got = lines(out)
        assert [n for _, n in got] == list(range(1500))
        assert {origin for origin, _ in got[1000:]} == {second}
    finally:
        b.stop()

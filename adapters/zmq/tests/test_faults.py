"""Plugin processes that die, crash at start, ignore SIGTERM, or outlive a killed host."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import event_topics, read_lines, wait_until, zmq_host

from plugyard.host import ProcessState


async def test_a_killed_plugin_is_restarted_within_a_second(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(out)}}
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        old = host.processes.get("rec").pid
        os.kill(old, signal.SIGKILL)

        def respawned() -> bool:
            info = host.processes.get("rec")
            return info.state is ProcessState.RUNNING and info.pid not in (None, old)

        await wait_until(respawned, 1.0, "a new process within a second")
        assert host.stats["rec"].restarts == 1
        assert next(r for r in host.plugins if r.name == "rec").state == "started"
        new = host.processes.get("rec").pid

        def new_one_ready() -> bool:
            return any(
                line.get("topic") == "subscriber.rec.ready" and line["data"]["pid"] == new
                for line in read_lines(out)
            )

        await wait_until(new_one_ready, what="the new process's ready event")
        host.publish("app.after")
        await wait_until(lambda: "app.after" in event_topics(out), what="events after restart")


async def test_a_plugin_that_crashes_at_start_flaps_then_stays_stopped(runtime_dir: Path) -> None:
    plugins = {
        "crashy": {
            "use": "zmq_test_plugins:CrashAtStart",
            "process": {"flap_attempts": 3, "backoff_initial": 0.05},
        }
    }
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        record = next(r for r in host.plugins if r.name == "crashy")
        assert record.state == "failed"
        assert "flapping" in (record.error or "") and "cannot start" in (record.error or "")
        assert host.processes.get("crashy").state is ProcessState.FLAPPING
        assert host.recorder.matching("plugin.crashy.flapping")
        assert any("about to fail" in line for line in host.processes.logs("crashy"))
        await asyncio.sleep(0.3)
        assert host.processes.get("crashy").state is ProcessState.FLAPPING, "not restarted"
        assert host.processes.get("crashy").pid is None


async def test_a_plugin_ignoring_sigterm_is_killed_after_its_stop_timeout(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    plugins = {
        "stubborn": {
            "use": "zmq_test_plugins:IgnoresSigterm",
            "out": str(out),
            "process": {"stop_timeout": 0.3},
        }
    }
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        pid = host.processes.get("stubborn").pid
        started = time.monotonic()
        reply = await host.run_command("stop", name="stubborn")
        assert reply["state"] == "stopped"
        assert 0.3 <= time.monotonic() - started < 3
        info = host.processes.get("stubborn")
        assert info.exit_code == -signal.SIGKILL
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_killing_the_host_leaves_no_plugin_processes(runtime_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "plugyard.toml"
    config.write_text(
        f"""
[host]
name = "orphans"
runtime_dir = "{runtime_dir}"
autoload = false
adapters = ["zmq"]

[plugins.one]
use = "zmq_test_plugins:Recorder"
out = "{tmp_path / "one.jsonl"}"

[plugins.two]
use = "plugyard.adapters.zmq.plugins:EventLogger"
filename = "{tmp_path / "two.log"}"
"""
    )
    plugyard = Path(sys.executable).parent / "plugyard"
    host = subprocess.Popen(
        [str(plugyard), "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        children: list[psutil.Process] = []
        while time.monotonic() < deadline:
            if (runtime_dir / "host.json").exists():
                children = psutil.Process(host.pid).children()
                if len(children) == 2:
                    break
            time.sleep(0.05)
        assert len(children) == 2, "both plugin processes started"
        info = json.loads((runtime_dir / "host.json").read_text())
        assert info["pid"] == host.pid
        host.send_signal(signal.SIGKILL)
        host.wait(5)
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert alive == [], f"orphans left: {[p.pid for p in alive]}"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()

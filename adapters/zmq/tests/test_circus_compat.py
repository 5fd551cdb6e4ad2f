"""A plugin written for circus (the real ``circus`` package) talks to a plugyard host."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_lines, wait_until, zmq_host

from plugyard.adapters.zmq import ZmqService


def circus_python() -> list[str]:
    """A Python that has circus: this one, or a throwaway one made by uv from the registry."""
    if importlib.util.find_spec("circus") is not None:
        return [sys.executable]
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("circus is not installed and uv is not available to fetch it")
    return [uv, "run", "--quiet", "--no-project", "--with", "circus>=0.19", "python"]


async def test_a_circus_plugin_gets_events_and_well_formed_replies(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out, rec = tmp_path / "probe.jsonl", tmp_path / "rec.jsonl"
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(rec)}}
    async with zmq_host(runtime_dir, plugins=plugins, zmq={"circus_compat": True}) as host:
        argv = [
            *circus_python(),
            "-c",
            "from circus import plugins; plugins.main()",
            "--endpoint",
            ZmqService.of(host).endpoint,
            "--pubsub",
            ZmqService.of(host).pubsub_endpoint,
            "--config",
            f"out:{out}:::target:rec",
            "circus_test_plugins.Probe",
        ]
        probe = subprocess.Popen(argv, env={**os.environ}, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
        try:
            deadline = time.monotonic() + 120
            while not any("calls" in line for line in read_lines(out)):
                assert probe.poll() is None, "the circus plugin exited"
                assert time.monotonic() < deadline, "the circus plugin never called the host"
                # Restart until the plugin has seen an event (it is subscribed): the restart's
                # start then makes it call the host, and nothing restarts rec after that.
                if not read_lines(out) and host.registry.get("rec").state == "started":
                    await host.run_command("restart", name="rec")
                await asyncio.sleep(0.2)
            await wait_until(lambda: host.registry.get("rec").state == "stopped", what="stop")
            await host.run_command("start", name="rec")  # the plugin surely sees this spawn

            def spawned() -> bool:
                return any(line.get("action") == "spawn" for line in read_lines(out))

            await wait_until(spawned, what="a spawn event")
        finally:
            probe.terminate()
            probe.wait(10)
    lines = read_lines(out)
    events = [line for line in lines if "topic" in line]
    assert all(e["topic"].startswith("watcher.") for e in events)
    actions = {e["action"] for e in events if e["watcher"] == "rec"}
    assert {"start", "stop", "spawn", "reap"} <= actions
    reap = next(e["msg"] for e in events if e["action"] == "reap")
    assert isinstance(reap["process_pid"], int) and "exit_code" in reap and "time" in reap
    calls = next(line["calls"] for line in lines if "calls" in line)
    assert calls["list"]["status"] == "ok" and calls["list"]["watchers"] == ["plugin:rec"]
    assert calls["list"]["id"] is None
    assert len(calls["list_name"]["pids"]) == 1 and isinstance(calls["list_name"]["pids"][0], int)
    assert calls["status"]["status"] == "active"
    assert calls["stats"]["status"] == "ok" and calls["stats"]["name"] == "rec"
    (info,) = calls["stats"]["info"].values()
    assert isinstance(info["cpu"], float) and isinstance(info["mem"], float)
    assert "restarts" in calls["stats"]["counters"]
    assert calls["unknown"]["status"] == "error" and calls["unknown"]["errno"] == 2
    assert calls["incr"] == {**calls["incr"], "numprocesses": 1, "singleton": True}
    assert calls["stop"]["status"] == "ok" and calls["stop"]["state"] == "stopped"


async def test_the_host_supervises_a_circus_plugin_from_its_config(
    runtime_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("circus")
    out = tmp_path / "probe.jsonl"
    plugins = {
        "probe": {"use": "circus_test_plugins:Probe", "out": str(out), "target": "other"},
    }
    async with zmq_host(runtime_dir, plugins=plugins, zmq={"circus_compat": True}) as host:
        record = host.registry.get("probe")
        assert (record.model, record.state) == ("zmq", "started")
        assert host.registry.handle("probe").describe()["flavour"] == "circus"
        pid = host.processes.get("probe").pid
        assert pid is not None
        deadline = time.monotonic() + 20
        while not read_lines(out):
            assert time.monotonic() < deadline, "the supervised circus plugin got no event"
            host.publish_event("plugin.other.started", {"model": "zmq"}, source="test")
            await asyncio.sleep(0.1)
    assert read_lines(out)[0]["watcher"] == "other"


async def test_casts_run_like_calls_and_a_failed_cast_is_logged_by_name(
    runtime_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from plugyard.adapters.zmq import HostClient

    ini = tmp_path / "circus.ini"
    ini.write_text("[watcher:web]\ncmd = sleep 1000\n")
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        watcher = ZmqService.of(host).circus.watchers["web"]
        (first,) = await wait_until(watcher.pids, what="web's process")

        def casts() -> None:
            with HostClient.from_facts(ZmqService.of(host).advertisement(), timeout=5) as client:
                client.cast("kill", name="web", pid=first, signum="KILL")
                client.cast("nosuchcommand", name="web")
                client.cast("kill", name="ghost")
                client.call("numwatchers")  # the casts before it have been read

        await asyncio.to_thread(casts)
        await wait_until(lambda: watcher.pids() not in ([], [first]), what="kill to respawn web")
        await wait_until(
            lambda: (
                any("nosuchcommand" in r.getMessage() for r in caplog.records)
                and any(
                    "cast kill" in r.getMessage() and "ghost" in r.getMessage()
                    for r in caplog.records
                )
            ),
            what="both failed casts in the log",
        )

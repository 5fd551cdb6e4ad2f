"""Host events reach subscriber plugin processes: in order, numbered, never blocking the host."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import event_topics, read_lines, wait_until, zcall, zmq_host

from plugyard.adapters.zmq import ZmqService


async def test_a_plugin_receives_every_event_in_order_with_its_seq(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(out), "size": 3}}
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        published = [host.publish("app.item", n=i) for i in range(200)]
        await wait_until(lambda: event_topics(out).count("app.item") == 200, what="200 events")
        lines = read_lines(out)
    assert lines[0]["config"] == {"out": str(out), "size": 3}
    items = [line for line in lines if line.get("topic") == "app.item"]
    assert [line["data"]["n"] for line in items] == list(range(200))
    assert [line["seq"] for line in items] == [event.seq for event in published]
    seqs = [line["seq"] for line in lines if "seq" in line]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "no gap between first and last"


async def test_the_host_waits_for_the_subscription_before_it_reports_started(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(out)}}
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        host.publish("app.first")
        await wait_until(lambda: "app.first" in event_topics(out), what="the first event")
        assert "plugin.rec.started" in event_topics(out)


async def test_async_handle_recv_and_calls_from_handle_init(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    plugins = {
        "arec": {"use": "zmq_test_plugins:AsyncRecorder", "out": str(out), "call_status": True}
    }
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        for i in range(20):
            host.publish("app.async", n=i)
        await wait_until(lambda: event_topics(out).count("app.async") == 20, what="20 events")
    lines = read_lines(out)
    status = next(line["status_reply"] for line in lines if "status_reply" in line)
    assert status["status"] == "loaded", "the host is still starting it"
    assert status["name"] == "arec"
    assert status["details"]["process"]["pid"] == lines[0]["pid"]
    assert next(line for line in lines if "call_error" in line)["call_error"] == 2


async def test_handle_stop_runs_on_a_normal_stop_and_on_sigterm(
    runtime_dir: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    plugins = {
        "a": {"use": "zmq_test_plugins:Recorder", "out": str(first)},
        "b": {"use": "zmq_test_plugins:Recorder", "out": str(second)},
    }
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        reply = await host.run_command("stop", name="a")
        assert reply == {"name": "a", "state": "stopped"}
        assert read_lines(first)[-1] == {"stopped": True}
        pid = host.processes.get("b").pid
        os.kill(pid, signal.SIGTERM)
        await wait_until(lambda: read_lines(second)[-1:] == [{"stopped": True}], what="stop")


async def test_a_slow_subscriber_never_blocks_the_host_or_the_others_and_its_drops_are_counted(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fast.jsonl"
    plugins = {
        "slow": {"use": "zmq_test_plugins:SlowRecorder", "delay": 0.001},
        "fast": {"use": "zmq_test_plugins:Recorder", "out": str(out)},
    }
    zmq = {"sndhwm": 500, "buffer": 100}
    async with zmq_host(runtime_dir, plugins=plugins, zmq=zmq) as host:
        started = time.perf_counter()
        for i in range(6000):
            host.publish("app.flood", n=i, pad="x" * 100)
            if i % 50 == 49:
                await asyncio.sleep(0.005)
        assert await host.bus.drain(10)
        assert time.perf_counter() - started < 5, "publishing waited for the slow subscriber"
        assert ZmqService.of(host).publisher.pending <= 100
        await wait_until(lambda: host.stats["slow"].drops > 0, 20, "drops reported by slow")
        stats = await host.run_command("stats", name="slow")
        assert stats["info"]["drops"] == host.stats["slow"].drops
        assert host.stats["zmq"].drops > 0, "overflows are counted under the adapter"
        await wait_until(lambda: event_topics(out).count("app.flood") == 6000, 20, "fast got all")
        assert host.stats["fast"].drops == 0


@pytest.mark.parametrize("compat", [False, True])
async def test_plugins_are_listed_like_any_other(
    runtime_dir: Path, tmp_path: Path, compat: bool
) -> None:
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(tmp_path / "r.jsonl")}}
    async with zmq_host(runtime_dir, plugins=plugins, zmq={"circus_compat": compat}) as host:
        listed = await zcall(host, "list")
        assert "rec" in listed["plugins"]
        assert listed["watchers"] == (["plugin:rec"] if compat else ["rec"])
        status = await zcall(host, "status", name="rec")
        assert status["status"] == ("active" if compat else "started")
        record = next(r for r in host.plugins if r.name == "rec")
        assert (record.model, record.state) == ("zmq", "started")
        restarted = await host.run_command("restart", name="rec")
        assert restarted["state"] == "started"
        assert host.stats["rec"].restarts == 1

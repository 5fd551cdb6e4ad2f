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
from plugyard.sdk import Event


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


async def test_events_from_another_host_reach_subscribers_with_their_origin(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(out)}}
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        far = Event("app.far", {"n": 1}, "bridge", 1.0, "other-7", 7, "other", 7)
        relayed = host.bus.relay(far)
        host.publish("app.near")
        await wait_until(lambda: "app.near" in event_topics(out), what="both events")
    lines = {line["topic"]: line for line in read_lines(out) if "topic" in line}
    assert lines["app.far"] == {
        "topic": "app.far",
        "seq": relayed.seq,
        "data": {"n": 1},
        "origin": "other",
        "origin_seq": 7,
    }
    assert "origin" not in lines["app.near"]


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
        "slow": {"use": "zmq_test_plugins:SlowRecorder", "delay": 0.002},
        "fast": {"use": "zmq_test_plugins:Recorder", "out": str(out)},
    }
    zmq = {"sndhwm": 500, "buffer": 100}
    async with zmq_host(runtime_dir, plugins=plugins, zmq=zmq) as host:
        started = time.perf_counter()
        for i in range(6000):  # at a pace the fast subscriber keeps up with on a busy machine
            host.publish("app.flood", n=i, pad="x" * 100)
            if i % 20 == 19:
                await asyncio.sleep(0.005)
        assert await host.bus.drain(10)
        # the slow subscriber needs 12 s for the 6,000 events: publishing did not wait for it
        assert time.perf_counter() - started < 10, "publishing waited for the slow subscriber"
        assert ZmqService.of(host).publisher.pending <= 100
        await wait_until(lambda: host.stats["slow"].drops > 0, 60, "drops reported by slow")
        stats = await host.run_command("stats", name="slow")
        assert stats["info"]["drops"] == host.stats["slow"].drops
        service = ZmqService.of(host)
        assert service.publisher.overflowed > 0
        assert host.stats["zmq"].drops == 0, "the host dropped nothing: only slow lost events"
        await wait_until(lambda: event_topics(out).count("app.flood") == 6000, 60, "fast got all")
        assert host.stats["fast"].drops == 0


async def test_a_subscriber_falling_behind_is_named_at_once_before_it_reaches_the_gap(
    runtime_dir: Path, tmp_path: Path
) -> None:
    """A stuck subscriber cannot report the gap it will find until it gets there: the host
    names it (warning, ``subscriber.NAME.behind`` event, ``status NAME``) within seconds of
    events being sent past its full queue. Its exact drops follow once it has caught up, and
    a subscriber that keeps up is never named and loses nothing."""
    gate, out = tmp_path / "gate", tmp_path / "fast.jsonl"
    plugins = {
        "gated": {"use": "zmq_test_plugins:GatedRecorder", "gate": str(gate)},
        "fast": {"use": "zmq_test_plugins:Recorder", "out": str(out)},
    }
    behind: list[Event] = []
    async with zmq_host(runtime_dir, plugins=plugins, zmq={"sndhwm": 200, "buffer": 100}) as host:
        host.subscribe("subscriber.*.behind", behind.append)
        service = ZmqService.of(host)
        first = host.publish("app.before")
        await wait_until(
            lambda: service.progress.get("gated") and service.progress["gated"].seq >= first.seq,
            20,
            "the gated subscriber's progress report",
        )
        host.publish("app.hold")
        sent = 0
        while service.publisher.overflowed == 0:  # at a pace the fast subscriber keeps up with
            assert sent < 100_000, "the gated subscriber's queue never filled"
            for _ in range(20):
                host.publish("app.flood", n=sent, pad="x" * 100)
                sent += 1
            await asyncio.sleep(0.005)
        assert await host.bus.drain(10)
        await wait_until(lambda: behind, 30, "subscriber.gated.behind")
        event = behind[0]
        assert event.topic == "subscriber.gated.behind"
        assert event.data["seq"] <= first.seq + 1 and event.data["lag"] >= 200
        assert event.data["losing_from"] > event.data["seq"]
        assert host.stats["gated"].drops == 0, "named before the subscriber could report"
        status = await host.run_command("status", name="gated")
        assert status["details"]["events"]["losing_from"] == event.data["losing_from"]
        gate.touch()
        after = 0

        def reported() -> bool:
            nonlocal after
            host.publish("app.after", n=after)  # the event past the gap shows the gap
            after += 1
            return host.stats["gated"].drops > 0

        await wait_until(reported, 60, "gated's own drop report")
        await wait_until(
            lambda: service.progress["gated"].losing_from is None, 30, "gated caught up"
        )
        await wait_until(
            lambda: event_topics(out).count("app.flood") == sent, 60, "fast got every event"
        )
        assert host.stats["fast"].drops == 0
        assert [e.data["name"] for e in behind] == ["gated"]
        assert host.stats["zmq"].drops == 0, "the host itself dropped nothing"


async def test_held_events_go_out_when_the_subscriber_makes_room_not_on_a_timer(
    runtime_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backstop timer is set to a minute here: every held event still arrives, in order
    and without a drop, well within it, because libzmq's signal of room resends them."""
    from plugyard.adapters.zmq import _publisher

    monkeypatch.setattr(_publisher, "_RETRY_MIN", 60.0)
    monkeypatch.setattr(_publisher, "_RETRY_MAX", 60.0)
    out = tmp_path / "slow.jsonl"
    plugins = {"slow": {"use": "zmq_test_plugins:SlowFileRecorder", "out": str(out)}}
    zmq = {"sndhwm": 50, "buffer": 100_000}
    async with zmq_host(runtime_dir, plugins=plugins, zmq=zmq) as host:
        publisher = ZmqService.of(host).publisher
        held = 0
        for i in range(1000):
            host.publish("app.held", n=i, pad="x" * 1000)
            if i % 100 == 99:
                await asyncio.sleep(0)
                held = max(held, publisher.pending)
        assert await host.bus.drain(10)
        held = max(held, publisher.pending)
        assert held > 0, "the subscriber's queue never filled: nothing was held"
        await wait_until(
            lambda: event_topics(out).count("app.held") == 1000, 45, "every held event"
        )
        assert host.stats["zmq"].drops == 0
    items = [line["data"]["n"] for line in read_lines(out) if line.get("topic") == "app.held"]
    assert items == list(range(1000))


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

"""Watcher options that change how processes live: hooks, max_age, send_hup, stop_children and
on_demand, with circus's meanings."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import wait_until, zcall, zmq_host

from plugyard.adapters.zmq import ZmqService

HELPERS = Path(__file__).parent / "helpers"
CHILD = HELPERS / "circus_watcher_child.py"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def hook_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("HOOK_LOG", str(path))
    return path


def hooks_called(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def child_lines(out: Path) -> list[str]:
    return out.read_text().splitlines() if out.exists() else []


def hooks(**names: str) -> dict[str, str]:
    return {f"hooks.{hook}": f"circus_hooks.{func}" for hook, func in names.items()}


# -- hooks ----------------------------------------------------------------------------------


async def test_hooks_run_in_circus_order_with_circus_arguments(
    runtime_dir: Path, hook_log: Path
) -> None:
    names = ("before_start", "after_start", "before_spawn", "after_spawn")
    table = {"cmd": "sleep 1000", **hooks(**dict.fromkeys(names, "record"))}
    table.update(hooks(before_stop="record", after_stop="record"))
    seen: list[tuple[str, dict[str, Any]]] = []
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        host.subscribe("watcher.web.hook_*", lambda e: seen.append((e.topic, dict(e.data))))
        web = ZmqService.of(host).circus.watchers["web"]
        (pid,) = await wait_until(web.pids, what="web's process")
        await zcall(host, "stop", name="web")
        await wait_until(
            lambda: "after_stop" in [data["name"] for _, data in seen], what="after_stop's event"
        )
    calls = hooks_called(hook_log)
    assert [c["hook"] for c in calls] == [
        "before_start",
        "before_spawn",
        "after_spawn",
        "after_start",
        "before_stop",
        "after_stop",
    ]
    assert all(c["watcher"] == "web" for c in calls)
    assert calls[2]["pid"] == pid
    assert {topic for topic, _ in seen} == {"watcher.web.hook_success"}
    assert [data["name"] for _, data in seen][-2:] == ["before_stop", "after_stop"]


async def test_reap_hooks_follow_a_process_that_exited(runtime_dir: Path, hook_log: Path) -> None:
    table = {"cmd": "sleep 1000", **hooks(before_reap="record", after_reap="record")}
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        (pid,) = await wait_until(web.pids, what="web's process")
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda: len(hooks_called(hook_log)) == 2, what="the reap hooks")
    before, after = hooks_called(hook_log)
    assert (before["hook"], before["process_pid"]) == ("before_reap", pid)
    assert (after["hook"], after["process_pid"]) == ("after_reap", pid)
    assert after["exit_code"] == -signal.SIGKILL and after["time"] == before["time"]


@pytest.mark.parametrize(
    ("hook", "func", "message"),
    [
        ("before_start", "refuse", "hooks.before_start (circus_hooks.refuse) returned a false"),
        (
            "before_start",
            "fail",
            "hooks.before_start (circus_hooks.fail) returned a false value or failed",
        ),
        ("before_spawn", "refuse", "hooks.before_spawn (circus_hooks.refuse) returned a false"),
        ("after_spawn", "refuse", "hooks.after_spawn (circus_hooks.refuse) returned a false"),
        ("after_start", "fail", "hooks.after_start (circus_hooks.fail) returned a false"),
    ],
)
async def test_a_hook_that_says_no_keeps_the_watcher_from_running(
    runtime_dir: Path, hook_log: Path, hook: str, func: str, message: str
) -> None:
    table = {"cmd": "sleep 1000", **hooks(**{hook: func})}
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        record = host.registry.get("web")
        web = ZmqService.of(host).circus.watchers["web"]
        assert web.pids() == [] and web.wids == {}
        assert (await zcall(host, "list", name="web"))["pids"] == []
    assert record.state == "failed"
    assert message in (record.error or "")
    assert [c["hook"] for c in hooks_called(hook_log)] == [hook]


async def test_a_failing_hook_marked_ignore_failure_lets_the_watcher_start(
    runtime_dir: Path, hook_log: Path
) -> None:
    table = {"cmd": "sleep 1000", "hooks.before_start": "circus_hooks.fail, true"}
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        await wait_until(web.pids, what="web's process")
        assert host.registry.get("web").state == "started"
    assert [c["hook"] for c in hooks_called(hook_log)] == ["before_start"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("circus_hooks.nothing_here", r"hooks\.before_start: 'circus_hooks\.nothing_here'"),
        ("no_such_module_x.func", r"hooks\.before_start: cannot import"),
    ],
)
async def test_a_hook_that_cannot_be_found_names_the_watcher_and_the_hook(
    runtime_dir: Path, value: str, message: str
) -> None:
    from conftest import host_config

    from plugyard.adapters.zmq import adapter
    from plugyard.host import ConfigError, Host

    table = {"web": {"cmd": "sleep 1", "hooks.before_start": value}}
    host = Host(host_config(runtime_dir, watchers=table), autoload=False, adapters=[adapter])
    with pytest.raises(ConfigError, match=message):
        await host.load()


async def test_before_signal_can_hold_a_signal_back_and_after_signal_follows(
    runtime_dir: Path, hook_log: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signals.txt"
    table = {
        "cmd": f"{sys.executable} {CHILD} {out}",
        **hooks(before_signal="refuse", after_signal="record"),
    }
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        await wait_until(lambda: f"{web.pids()[0]} started" in child_lines(out), what="start")
        (pid,) = web.pids()
        await zcall(host, "signal", name="web", signum="USR1")
        calls = hooks_called(hook_log)
        assert [(c["hook"], c["pid"], c["signum"]) for c in calls] == [
            ("before_signal", pid, int(signal.SIGUSR1)),
            ("after_signal", pid, int(signal.SIGUSR1)),
        ]
        web.set_option("hooks.before_signal", "circus_hooks.record")
        await zcall(host, "signal", name="web", signum="USR2")
        await wait_until(
            lambda: f"{pid} {int(signal.SIGUSR2)}" in child_lines(out), what="the USR2"
        )
        assert f"{pid} {int(signal.SIGUSR1)}" not in child_lines(out)


async def test_extended_stats_adds_to_each_processes_figures(
    runtime_dir: Path, hook_log: Path
) -> None:
    table = {"cmd": "sleep 1000", "hooks.extended_stats": "circus_hooks.add_stats"}
    async with zmq_host(runtime_dir, zmq={"circus_compat": True}, watchers={"web": table}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        (pid,) = await wait_until(web.pids, what="web's process")
        plain = await zcall(host, "stats", name="web")
        extended = await zcall(host, "stats", name="web", extended=True)
    assert "queue_length" not in plain["info"][str(pid)]
    info = extended["info"][str(pid)]
    assert (info["queue_length"], info["seen_by"]) == (7, "extended_stats")
    assert "children" in info


# -- max_age, send_hup, stop_children -------------------------------------------------------


async def test_max_age_restarts_each_process_once_it_is_old_enough(runtime_dir: Path) -> None:
    table = {"cmd": "sleep 1000", "numprocesses": 2, "max_age": 1, "max_age_variance": 1}
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        first = set(await wait_until(lambda: len(web.pids()) == 2 and web.pids(), what="2"))
        renewed = await wait_until(
            lambda: len(p := web.pids()) == 2 and not first & set(p) and p,
            timeout=15,
            what="both processes replaced after max_age",
        )
        assert all(psutil.Process(pid).is_running() for pid in renewed)
        assert host.registry.get("web").state == "started"
        infos = [host.processes.get(name) for name in web.wids.values()]
        assert all(info.restarts >= 1 and info.crashes == 0 for info in infos)


async def test_without_max_age_processes_keep_running(runtime_dir: Path) -> None:
    async with zmq_host(runtime_dir, watchers={"web": {"cmd": "sleep 1000"}}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        first = await wait_until(web.pids, what="web's process")
        assert web._expiry == {}
        assert web.pids() == first


@pytest.mark.parametrize("send_hup", [True, False])
async def test_reload_sends_sighup_with_send_hup_and_restarts_without_it(
    runtime_dir: Path, tmp_path: Path, send_hup: bool
) -> None:
    out = tmp_path / "signals.txt"
    table = {"cmd": f"{sys.executable} {CHILD} {out}", "send_hup": send_hup}
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        await wait_until(lambda: web.pids() and child_lines(out), what="the first process")
        (pid,) = web.pids()
        await zcall(host, "reload", name="web")
        if send_hup:
            await wait_until(
                lambda: f"{pid} {int(signal.SIGHUP)}" in child_lines(out), what="the HUP"
            )
            assert web.pids() == [pid]
        else:
            await wait_until(lambda: web.pids() not in ([], [pid]), what="a new process")
            assert f"{pid} {int(signal.SIGHUP)}" not in child_lines(out)


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """Pids a test leaves behind on purpose; killed at the end."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("stop_children", [True, False])
async def test_stop_children_also_stops_a_child_outside_the_process_group(
    runtime_dir: Path, tmp_path: Path, strays: list[int], stop_children: bool
) -> None:
    out = tmp_path / "grandchild.pid"
    child = HELPERS / "circus_forking_child.py"
    table = {"cmd": f"{sys.executable} {child} {out}", "stop_children": stop_children}
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        await wait_until(out.exists, what="the grandchild")
        kid = int(out.read_text())
        strays.append(kid)
        assert not gone(kid)
        await zcall(host, "stop", name="web")
        if stop_children:
            await wait_until(lambda: gone(kid), what="the grandchild stopped")
        else:
            assert not gone(kid), "a child in its own session outlives a plain stop"


# -- on_demand ------------------------------------------------------------------------------


async def test_on_demand_starts_the_process_at_the_first_connection(
    runtime_dir: Path, tmp_path: Path
) -> None:
    server = HELPERS / "circus_socket_server.py"
    sockets = {"web": {"host": "127.0.0.1", "port": 0}}
    table = {
        "cmd": f"{sys.executable} {server}",
        "args": "$(circus.sockets.web)",
        "on_demand": True,
    }
    async with zmq_host(runtime_dir, sockets=sockets, watchers={"web": table}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        (listed,) = (await zcall(host, "listsockets"))["sockets"]
        status = await zcall(host, "status", name="web")
        assert status["details"]["waiting_for_connection"] is True
        assert web.pids() == [] and host.registry.get("web").state == "started"

        def ask() -> int:
            with socket.create_connection(("127.0.0.1", listed["port"]), timeout=20) as conn:
                conn.settimeout(20)
                return int(conn.makefile().readline())

        answer = await asyncio.to_thread(ask)
        assert web.pids() == [answer]
        status = await zcall(host, "status", name="web")
        assert status["details"]["waiting_for_connection"] is False


async def test_on_demand_without_a_socket_is_refused_by_name(runtime_dir: Path) -> None:
    table = {"cmd": "sleep 1000", "on_demand": True}
    async with zmq_host(runtime_dir, watchers={"web": table}) as host:
        record = host.registry.get("web")
    assert record.state == "failed"
    assert "on_demand: the watcher uses no socket" in (record.error or "")

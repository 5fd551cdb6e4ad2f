"""Watchers: supervised ordinary processes, from ``[watchers.NAME]`` tables or a circus.ini,
listed with every other plugin."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from conftest import host_config, wait_until, zcall, zmq_host

from plugyard.adapters.zmq import ZmqService, adapter
from plugyard.host import ConfigError, Host

HELPERS = Path(__file__).parent / "helpers"


async def test_toml_watchers_run_and_are_listed_with_the_plugins(runtime_dir: Path) -> None:
    watchers = {
        "web": {"cmd": "sleep", "args": "1000", "numprocesses": 2, "priority": 5},
        "idle": {"cmd": "sleep 1000", "autostart": False},
    }
    async with zmq_host(runtime_dir, watchers=watchers) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        pids = await wait_until(lambda: len(web.pids()) == 2 and web.pids(), what="2 processes")
        records = {r["name"]: r for r in (await zcall(host, "plugins"))["plugins"]}
        assert (records["web"]["model"], records["web"]["state"]) == ("watcher", "started")
        assert records["idle"]["state"] == "stopped"
        status = await zcall(host, "status", name="web")
        assert status["details"]["pids"] == pids
        assert (await zcall(host, "list", name="idle"))["pids"] == []
        await zcall(host, "start", name="idle")
        assert len((await zcall(host, "list", name="idle"))["pids"]) == 1
        os.kill(pids[1], signal.SIGTERM)
        await wait_until(lambda: len(p := web.pids()) == 2 and pids[1] not in p, what="respawn")


async def test_watcher_events_carry_circus_keys(runtime_dir: Path) -> None:
    seen: list[tuple[str, dict[str, object]]] = []
    async with zmq_host(runtime_dir, watchers={"web": {"cmd": "sleep 1000"}}) as host:
        host.subscribe("watcher.*", lambda e: seen.append((e.topic, dict(e.data))))
        web = ZmqService.of(host).circus.watchers["web"]
        (pid,) = await wait_until(web.pids, what="web's process")
        await zcall(host, "kill", name="web", signum="KILL")
        await wait_until(lambda: web.pids() not in ([], [pid]), what="a respawn")
        await wait_until(
            lambda: {"watcher.web.reap", "watcher.web.spawn"} <= {t for t, _ in seen},
            what="reap and spawn events",
        )
    reap = next(data for topic, data in seen if topic == "watcher.web.reap")
    assert reap["process_pid"] == pid and reap["process_id"] == 1
    assert reap["exit_code"] == -signal.SIGKILL and isinstance(reap["time"], float)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"args": "1"}, r"watchers\.web: 'cmd' is mandatory"),
        ({"cmd": "x", "numprocesses": "many"}, r"watchers\.web: numprocesses: expected an integer"),
        ({"cmd": "x", "stop_signal": "NOPE"}, r"watchers\.web: stop_signal: 'NOPE' is not a sig"),
        ({"cmd": "x", "respawn": "perhaps"}, r"watchers\.web: respawn: expected a boolean"),
    ],
)
async def test_bad_watcher_options_name_the_table_and_the_key(
    runtime_dir: Path, table: dict[str, object], message: str
) -> None:
    host = Host(
        host_config(runtime_dir, watchers={"web": table}), autoload=False, adapters=[adapter]
    )
    with pytest.raises(ConfigError, match=message):
        await host.load()


async def test_a_bad_circus_ini_watcher_names_the_file_and_section(
    runtime_dir: Path, tmp_path: Path
) -> None:
    ini = tmp_path / "circus.ini"
    ini.write_text("[watcher:web]\ncmd = sleep 1\nwarmup_delay = soon\n")
    host = Host(
        host_config(runtime_dir, zmq={"circus_config": str(ini)}),
        autoload=False,
        adapters=[adapter],
    )
    with pytest.raises(ConfigError, match=r"circus.ini: \[watcher:web\]: warmup_delay: expected"):
        await host.load()


async def test_a_socket_bound_by_the_host_is_served_by_the_watchers_that_use_it(
    runtime_dir: Path, tmp_path: Path
) -> None:
    server = HELPERS / "circus_socket_server.py"
    ini = tmp_path / "circus.ini"
    ini.write_text(
        "[socket:web]\nhost = 127.0.0.1\nport = 0\n\n"
        f"[watcher:web]\ncmd = {sys.executable} {server}\nargs = $(circus.sockets.web)\n"
        "numprocesses = 2\nstdout_stream.class = FileStream\n"
        f"stdout_stream.filename = {tmp_path / 'web.log'}\n"
    )
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        pids = await wait_until(lambda: len(web.pids()) == 2 and web.pids(), what="2 servers")
        (listed,) = (await zcall(host, "listsockets"))["sockets"]
        assert (listed["name"], listed["host"], listed["backlog"]) == ("web", "127.0.0.1", 2048)
        port = listed["port"]
        assert port > 0

        def ask() -> int:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                return int(conn.makefile().readline())

        answers = {await asyncio.to_thread(ask) for _ in range(6)}
        assert answers <= set(pids) and answers
        log = tmp_path / "web.log"
        await wait_until(
            lambda: log.exists() and "answered" in log.read_text(), what="the stdout file"
        )
        assert f"serving fd {listed['fd']}" in log.read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_a_placeholder_for_an_unknown_socket_fails_the_watcher_by_name(
    runtime_dir: Path,
) -> None:
    watchers = {"web": {"cmd": "sleep", "args": "$(circus.sockets.nope)"}}
    async with zmq_host(runtime_dir, watchers=watchers) as host:
        record = host.registry.get("web")
    assert record.state == "failed"
    assert "$(circus.sockets.nope): no socket called 'nope'" in (record.error or "")


@pytest.mark.skipif(
    os.geteuid() != 0,
    reason=f"uid/gid need a host that may switch users (root); the tests run as {os.geteuid()}",
)
async def test_uid_and_gid_run_the_watchers_processes_as_that_user(runtime_dir: Path) -> None:
    import grp
    import pwd

    import psutil

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no 'nobody' user")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    watchers = {"web": {"cmd": "sleep 1000", "uid": "nobody", "gid": group, "working_dir": "/"}}
    async with zmq_host(runtime_dir, watchers=watchers) as host:
        web = ZmqService.of(host).circus.watchers["web"]
        (pid,) = await wait_until(web.pids, what="web's process")
        process = psutil.Process(pid)
        assert (process.uids().real, process.gids().real) == (nobody.pw_uid, nobody.pw_gid)
        options = (await zcall(host, "options", name="web"))["options"]
        assert (options["uid"], options["gid"]) == ("nobody", group)


async def test_an_unknown_uid_fails_the_watcher_with_the_name(runtime_dir: Path) -> None:
    watchers = {"web": {"cmd": "sleep 1000", "uid": "no-such-user-x"}}
    async with zmq_host(runtime_dir, watchers=watchers) as host:
        record = host.registry.get("web")
    assert record.state == "failed"
    assert "no user 'no-such-user-x' on this machine" in (record.error or "")

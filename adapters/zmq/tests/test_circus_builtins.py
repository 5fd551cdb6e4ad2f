"""circus's own built-in plugins, unchanged, against watchers from a circus.ini on plugyard."""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until, zmq_host

from plugyard.adapters.zmq import ZmqService

pytest.importorskip("circus")

HELPERS = Path(__file__).parent / "helpers"


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    """A UDP socket on loopback, for statsd packets or to find a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_ini(folder: Path, text: str) -> Path:
    ini = folder / "circus.ini"
    ini.write_text(text)
    return ini


def pids(host: Any, name: str) -> list[int]:
    found: list[int] = ZmqService.of(host).circus.watchers[name].pids()
    return found


async def test_watchdog_kills_a_silent_process_and_it_is_respawned(
    runtime_dir: Path, tmp_path: Path
) -> None:
    ini = write_ini(
        tmp_path,
        "[watcher:web]\ncmd = sleep 1000\n\n"
        "[plugin:watchdog]\nuse = circus.plugins.watchdog.WatchDog\n"
        f"loop_rate = 1\nmax_count = 1\nwatchers_regex = ^web$\nport = {free_udp_port()}\n",
    )
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        first = await wait_until(lambda: pids(host, "web"), what="web's process")
        second = await wait_until(
            lambda: (now := pids(host, "web")) and now != first and now,
            timeout=30,
            what="the watchdog to kill the silent process and the watcher to respawn it",
        )
    assert len(second) == 1 and second[0] not in first


async def test_resource_watcher_restarts_a_watcher_over_its_memory_limit(
    runtime_dir: Path, tmp_path: Path, udp: socket.socket
) -> None:
    ini = write_ini(
        tmp_path,
        "[watcher:web]\ncmd = sleep 1000\n\n"
        "[plugin:rw]\nuse = circus.plugins.resource_watcher.ResourceWatcher\n"
        "watcher = web\nloop_rate = 0.5\nmax_mem = 1K\nmax_count = 1\nmax_cpu = 0\n"
        f"host = 127.0.0.1\nport = {udp.getsockname()[1]}\n",
    )
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        first = await wait_until(lambda: pids(host, "web"), what="web's process")
        await wait_until(
            lambda: (now := pids(host, "web")) and now != first,
            timeout=30,
            what="the resource watcher to restart web",
        )
        assert host.stats["web"].restarts >= 1


async def test_command_reloader_restarts_a_watcher_whose_command_changed(
    runtime_dir: Path, tmp_path: Path
) -> None:
    program = tmp_path / "serve.sh"
    program.write_text("#!/bin/sh\nexec sleep 1000\n")
    program.chmod(0o755)
    ini = write_ini(
        tmp_path,
        f"[watcher:web]\ncmd = {program}\n\n"
        "[plugin:reloader]\nuse = circus.plugins.command_reloader.CommandReloader\n"
        "loop_rate = 1\n",
    )
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        first = await wait_until(lambda: pids(host, "web"), what="web's process")
        deadline = time.monotonic() + 30
        version = 0
        while (now := pids(host, "web")) in ([], first):
            # The reloader notes the file's mtime on its first look: change it until it sees.
            assert time.monotonic() < deadline, "the command reloader never restarted web"
            version += 1
            program.write_text(f"#!/bin/sh\n# version {version}\nexec sleep 1000\n")
            with contextlib.suppress(AssertionError):
                await wait_until(lambda: pids(host, "web") not in ([], first), timeout=3)
    assert now and now != first


async def test_statsd_emitter_and_full_stats_send_what_they_see(
    runtime_dir: Path, tmp_path: Path, udp: socket.socket
) -> None:
    port = udp.getsockname()[1]
    ini = write_ini(
        tmp_path,
        "[watcher:web]\ncmd = sleep 1000\nnumprocesses = 2\n\n"
        f"[plugin:statsd]\nuse = circus.plugins.statsd.StatsdEmitter\nhost = 127.0.0.1\n"
        f"port = {port}\napplication_name = shop\n\n"
        f"[plugin:full]\nuse = circus.plugins.statsd.FullStats\nhost = 127.0.0.1\n"
        f"port = {port}\napplication_name = shop\nloop_rate = 0.5\n",
    )
    received: list[str] = []

    def drain() -> str:
        while True:
            try:
                received.append(udp.recv(4096).decode())
            except BlockingIOError:
                return "\n".join(received)

    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        await wait_until(lambda: len(pids(host, "web")) == 2, what="web's processes")
        deadline = time.monotonic() + 30
        while "circus.shop.watcher.web.spawn:1|c" not in drain():
            # A restart makes spawn events; the emitter counts those it sees once subscribed.
            assert time.monotonic() < deadline, f"no spawn counter in {received}"
            await host.run_command("restart", name="web")
            with contextlib.suppress(AssertionError):
                await wait_until(lambda: "watcher.web.spawn:1|c" in drain(), timeout=2)
        await wait_until(
            lambda: "circus.shop.watcher._stats.web.cpu_sum:" in drain(),
            timeout=30,
            what="full stats for web",
        )


async def test_flapping_stops_a_watcher_that_keeps_dying(runtime_dir: Path, tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path,
        f"[watcher:crashy]\ncmd = {sys.executable} -c 'raise SystemExit(3)'\n"
        "flapping.attempts = 2\n\n"
        "[plugin:flapping]\nuse = circus.plugins.flapping.Flapping\n"
        "window = 30\nretry_in = 0.5\nmax_retry = 1\n",
    )
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        circus = ZmqService.of(host).circus
        await wait_until(
            lambda: (
                host.stats["crashy"].restarts >= 0
                and circus.status_of("crashy") == "stopped"
                and host.registry.get("crashy").state == "stopped"
            ),
            timeout=30,
            what="the flapping plugin to stop crashy",
        )

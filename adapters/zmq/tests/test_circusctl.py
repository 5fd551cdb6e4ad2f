"""circus 0.19's own ``circusctl`` against ``plugyard run`` with a circus.ini, and side by side
against circus's own ``circusd`` on the same file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until, zmq_host

from plugyard.adapters.zmq import ZmqService

pytest.importorskip("circus")

BIN = Path(sys.executable).parent
CIRCUSCTL = BIN / "circusctl"
CIRCUSD = BIN / "circusd"
HELPERS = Path(__file__).parent / "helpers"

INI = """\
[circus]
endpoint = ipc://{folder}/ctl.sock
pubsub_endpoint = ipc://{folder}/pub.sock
multicast_endpoint =
check_delay = 5

[watcher:web]
cmd = sleep
args = 1000
numprocesses = 2
priority = 2
working_dir = {folder}
flapping.attempts = 4

[watcher:worker]
cmd = sleep 999
working_dir = {folder}
"""


def wait_for(predicate: object, what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ctl(endpoint: str, *args: str) -> tuple[int, str]:
    """Run circusctl; its exit status and what it printed (stdout then stderr)."""
    done = subprocess.run(
        [str(CIRCUSCTL), "--endpoint", endpoint, "--timeout", "10", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def pids_of(endpoint: str, name: str) -> list[int]:
    code, out = ctl(endpoint, "list", name)
    assert code == 0, out
    return [int(p) for p in out.split(",") if p]


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def start_plugyard(folder: Path, ini: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """``plugyard run -c circus.ini``, as a circus user runs circusd; returns the process and
    the endpoint, the one the circus.ini names. Only the runtime folder is set aside (through
    the environment), so that the test's host never meets another on this machine."""
    runtime = folder / "rt"
    env = {**os.environ, "PLUGYARD_HOST__RUNTIME_DIR": str(runtime), **env}
    process = subprocess.Popen(
        [str(BIN / "plugyard"), "run", "-c", str(ini)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        wait_for(
            lambda: (runtime / "host.json").exists() or process.poll() is not None,
            "plugyard run to start",
            timeout=60,
        )
        assert process.poll() is None, "plugyard run exited"
    except BaseException:
        stop_process(process)
        raise
    return process, f"ipc://{folder}/ctl.sock"


@pytest.fixture
def folder() -> Iterator[Path]:
    """A short private folder (ipc:// paths must stay short)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="pyc-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def plugyard(folder: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """``plugyard run`` on a circus.ini; yields the command endpoint and the ini."""
    ini = folder / "circus.ini"
    ini.write_text(INI.format(folder=folder))
    process, endpoint = start_plugyard(folder, ini)
    try:
        wait_for(lambda: len(pids_of(endpoint, "web")) == 2, "the web watcher's processes")
        yield endpoint, ini, process
    finally:
        stop_process(process)


# What a user types, in order. ``--waiting`` where circusd would otherwise answer before the
# change is done, so that the next command sees it on both sides.
SCRIPT: list[tuple[str, ...]] = [
    ("list",),
    ("list", "web"),
    ("status",),
    ("status", "web"),
    ("numwatchers",),
    ("numprocesses",),
    ("numprocesses", "web"),
    ("options", "web"),
    ("get", "web", "cmd", "numprocesses"),
    ("get", "web", "bogus"),
    ("options", "nope"),
    ("stop", "nope"),
    ("globaloptions", "pubsub_endpoint"),
    ("globaloptions", "bogus"),
    ("listsockets",),
    ("stats",),
    ("stats", "--extended", "web"),
    ("dstats",),
    ("stop", "web", "--waiting"),
    ("status",),
    ("start", "web", "--waiting"),
    ("stop", "w*", "--waiting"),
    ("status",),
    ("start", "--waiting"),
    ("status",),
    ("restart", "web", "--waiting"),
    ("set", "web", "numprocesses", "3", "--waiting"),
    ("numprocesses", "web"),
    ("incr", "web"),
    ("decr", "web"),
    ("signal", "web", "USR1"),
    ("signal", "nope", "USR1"),
    ("kill", "worker"),
    ("reload", "--waiting"),
    ("numwatchers",),
    ("rm", "worker", "--waiting"),
    ("add", "extra", "sleep 100", "--start"),
    ("rm", "nope"),
    ("list",),
    ("reloadconfig", "--waiting"),
    ("quit", "--waiting"),
]

_STATS_LINE = re.compile(
    r"^(\d+: )?\s*\d+  \S+ \S+ -?\d+ [\d.]+[BKMGTP] [\d.]+[BKMGTP] [\d.]+ [\d.]+ \d+:\d\d\.\d*$"
)


def normalise(args: tuple[str, ...], out: str, folder: Path) -> str:
    """Hide what differs from run to run: pids, figures, the folder and the endpoints."""
    out = out.replace(str(folder), "FOLDER")
    lines = []
    for line in out.splitlines():
        if _STATS_LINE.match(line):
            line = "STATS" if not line.startswith(" ") else "  STATS"
        elif re.fullmatch(r"\d+(,\d+)*", line) and args[0] == "list":
            line = f"{len(line.split(','))} pids"
        elif line.startswith(("pubsub_endpoint: ipc://", "endpoint: ipc://")):
            line = line.split(":", 1)[0] + ": ipc://..."
        lines.append(line)
    return "\n".join(lines)


def transcript(endpoint: str, folder: Path) -> list[str]:
    """Run the script; one entry per command: the command, its exit status and its output."""
    seen = []
    for args in SCRIPT:
        code, out = ctl(endpoint, *args)
        # circusd refuses a command while its arbiter still finishes the one before (its
        # `rm --waiting` can answer first): a client tries again, and so does this script
        deadline = time.monotonic() + 30
        while "arbiter is already running" in out and time.monotonic() < deadline:
            time.sleep(0.1)
            code, out = ctl(endpoint, *args)
        if args[0] == "stats" and len(args) == 1:
            out = "\n".join(sorted(out.splitlines()))  # watchers come in dict order
        if args[0] == "dstats":
            out = "\n".join(out.splitlines()[:2])  # circusd's children are its plugins
        seen.append(f"$ circusctl {' '.join(args)} [{code}]\n{normalise(args, out, folder)}")
    return seen


def test_circusctl_prints_the_same_for_plugyard_as_for_circusd(folder: Path) -> None:
    ini = folder / "circus.ini"
    ini.write_text(INI.format(folder=folder))
    circusd = subprocess.Popen(
        [str(CIRCUSD), str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    try:
        endpoint = f"ipc://{folder}/ctl.sock"
        wait_for(lambda: (folder / "ctl.sock").exists(), "circusd's socket")
        wait_for(lambda: len(pids_of(endpoint, "web")) == 2, "circusd's web processes")
        expected = transcript(endpoint, folder)
        circusd.wait(30)  # quit stopped it
    finally:
        stop_process(circusd)
    ini.write_text(INI.format(folder=folder))
    process, endpoint = start_plugyard(folder, ini)
    try:
        wait_for(lambda: len(pids_of(endpoint, "web")) == 2, "plugyard's web processes")
        got = transcript(endpoint, folder)
        assert process.wait(30) == 0, "quit stops plugyard run"
    finally:
        stop_process(process)
    differences = [
        f"circusd:\n{want}\nplugyard:\n{have}"
        for want, have in zip(expected, got, strict=True)
        if want != have
    ]
    assert not differences, "\n\n".join(differences)


def test_sighup_reloads_the_circus_ini(plugyard: tuple[str, Path, subprocess.Popen[str]]) -> None:
    endpoint, ini, process = plugyard
    ini.write_text(ini.read_text() + "\n[watcher:late]\ncmd = sleep 1000\n")
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: ctl(endpoint, "list") == (0, "late,web,worker"), "the added watcher")
    wait_for(lambda: len(pids_of(endpoint, "late")) == 1, "its process")
    assert ctl(endpoint, "status", "late") == (0, "active")


@pytest.mark.parametrize("through", ["circus.ini", "plugyard.toml"])
def test_a_tcp_endpoint_in_the_circus_ini_is_refused(folder: Path, through: str) -> None:
    ini = folder / "circus.ini"
    ini.write_text("[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[watcher:web]\ncmd = sleep 9\n")
    config = folder / "plugyard.toml"
    config.write_text(f'[host]\nruntime_dir = "{folder / "rt"}"\n[zmq]\ncircus_config = "{ini}"\n')
    env = {**os.environ, "PLUGYARD_HOST__RUNTIME_DIR": str(folder / "rt")}
    done = subprocess.run(
        [str(BIN / "plugyard"), "run", "-c", str(folder / through)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode != 0
    assert f"{ini}: [circus] endpoint = tcp://127.0.0.1:5555" in done.stderr
    assert "circus_allow_tcp" in done.stderr


def test_plugyard_run_takes_the_circus_ini_with_its_plugins(folder: Path) -> None:
    out = folder / "probe.jsonl"
    ini = folder / "circus.ini"
    ini.write_text(
        INI.format(folder=folder)
        + f"\n[plugin:probe]\nuse = circus_test_plugins.Probe\nout = {out}\ntarget = nope\n"
    )
    path = os.pathsep.join(filter(None, [str(HELPERS), os.environ.get("PYTHONPATH")]))
    process, endpoint = start_plugyard(folder, ini, PYTHONPATH=path)
    try:
        wait_for(lambda: len(pids_of(endpoint, "web")) == 2, "the web watcher's processes")
        assert ctl(endpoint, "list") == (0, "plugin:probe,web,worker")
        assert ctl(endpoint, "status", "plugin:probe") == (0, "active")
        (pid,) = pids_of(endpoint, "worker")
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda: out.exists() and '"action": "reap"' in out.read_text(),
            "the circus plugin's reap event",
        )
        assert ctl(endpoint, "quit", "--waiting") == (0, "ok")
        assert process.wait(30) == 0
    finally:
        stop_process(process)


# -- one behaviour at a time, on an in-process host -----------------------------------------


def ini_with(folder: Path, text: str) -> Path:
    ini = folder / "circus.ini"
    ini.write_text(text)
    return ini


async def actl(host: Any, *args: str) -> tuple[int, str]:
    """circusctl against an in-process host, from a thread (the host's loop keeps running)."""
    return await asyncio.to_thread(ctl, ZmqService.of(host).endpoint, *args)


async def test_a_process_killed_with_sigkill_is_respawned_with_a_new_pid(
    runtime_dir: Path, tmp_path: Path
) -> None:
    ini = ini_with(tmp_path, "[watcher:web]\ncmd = sleep 1000\nnumprocesses = 2\n")
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        watcher = ZmqService.of(host).circus.watchers["web"]
        first = await wait_until(lambda: len(watcher.pids()) == 2 and watcher.pids(), what="2")
        code, out = await actl(host, "list", "web")
        assert (code, out) == (0, ",".join(map(str, first)))
        os.kill(first[0], signal.SIGKILL)
        now = await wait_until(
            lambda: len(p := watcher.pids()) == 2 and first[0] not in p and p, what="a respawn"
        )
        assert first[1] in now
        code, out = await actl(host, "list", "web")
        assert (code, sorted(out.split(","))) == (0, sorted(map(str, now)))


async def test_incr_adds_a_process_and_signal_delivers_the_signal(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "signals.txt"
    child = HELPERS / "circus_watcher_child.py"
    ini = ini_with(tmp_path, f"[watcher:sig]\ncmd = {sys.executable} {child} {out}\n")
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        watcher = ZmqService.of(host).circus.watchers["sig"]

        def started() -> list[str]:
            lines = out.read_text().splitlines() if out.exists() else []
            return [line.split()[0] for line in lines if line.endswith(" started")]

        await wait_until(lambda: len(started()) == 1, what="the first process")
        assert await actl(host, "incr", "sig", "--waiting") == (0, "2")
        await wait_until(lambda: len(started()) == 2, what="the second process")
        assert await actl(host, "numprocesses", "sig") == (0, "2")
        assert await actl(host, "signal", "sig", "USR1") == (0, "ok")
        want = {f"{pid} {int(signal.SIGUSR1)}" for pid in started()}
        await wait_until(lambda: want <= set(out.read_text().splitlines()), what="two USR1")
        one = watcher.pids()[0]
        assert await actl(host, "signal", "sig", str(one), "HUP") == (0, "ok")
        await wait_until(
            lambda: f"{one} {int(signal.SIGHUP)}" in out.read_text().splitlines(), what="HUP"
        )
        assert await actl(host, "decr", "sig", "--waiting") == (0, "1")
        assert len(watcher.pids()) == 1


async def test_reloadconfig_starts_added_stops_removed_and_restarts_changed_watchers(
    runtime_dir: Path, tmp_path: Path
) -> None:
    base = "[watcher:keep]\ncmd = sleep 1000\n\n[watcher:change]\ncmd = sleep 1000\n"
    ini = ini_with(tmp_path, base + "\n[watcher:gone]\ncmd = sleep 1000\n")
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        watchers = ZmqService.of(host).circus.watchers
        await wait_until(lambda: all(w.pids() for w in watchers.values()), what="3 watchers")
        keep, change = watchers["keep"].pids(), watchers["change"].pids()
        ini.write_text(
            base.replace("[watcher:change]\ncmd = sleep 1000", "[watcher:change]\ncmd = sleep 999")
            + "\n[watcher:added]\ncmd = sleep 1000\nnumprocesses = 2\n"
        )
        assert await actl(host, "reloadconfig", "--waiting") == (0, "ok")
        assert await actl(host, "list") == (0, "added,change,keep")
        assert await actl(host, "numprocesses", "added") == (0, "2")
        assert watchers["keep"].pids() == keep
        assert watchers["change"].pids() != change
        assert await actl(host, "get", "change", "cmd") == (0, "cmd: sleep 999")
        assert "gone" not in [r.name for r in host.plugins]


def probe(name: str, out: Path) -> str:
    return f"\n[plugin:{name}]\nuse = circus_test_plugins.Probe\nout = {out}\ntarget = nope\n"


async def test_reloadconfig_starts_added_stops_removed_and_restarts_changed_plugins(
    runtime_dir: Path, tmp_path: Path
) -> None:
    web_ini = "[watcher:web]\ncmd = sleep 1000\nmax_retry = -1\n"
    base = web_ini + probe("keep", tmp_path / "keep.jsonl")
    ini = ini_with(
        tmp_path,
        base + probe("change", tmp_path / "change1.jsonl") + probe("gone", tmp_path / "gone.jsonl"),
    )
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:

        def pid(name: str) -> int | None:
            if name not in host.registry or host.registry.get(name).state != "started":
                return None
            return host.processes.get(name).pid

        names = ("keep", "change", "gone")
        before = await wait_until(
            lambda: all(pid(n) for n in names) and {n: pid(n) for n in names}, what="3 plugins"
        )
        added = probe("added", tmp_path / "a.jsonl")
        ini.write_text(base + probe("change", tmp_path / "change2.jsonl") + added)
        assert await actl(host, "reloadconfig", "--waiting") == (0, "ok")
        assert await actl(host, "list") == (0, "plugin:added,plugin:change,plugin:keep,web")
        assert pid("keep") == before["keep"]
        assert pid("change") not in (None, before["change"])
        assert pid("added") is not None and "gone" not in host.registry
        watcher = ZmqService.of(host).circus.watchers["web"]

        def reaped(out: str) -> bool:
            """Whether the plugin writing ``out`` saw a process of ``web`` reaped."""
            path = tmp_path / out
            lines = path.read_text().splitlines() if path.exists() else []
            seen = [json.loads(line) for line in lines]
            return any(r.get("watcher") == "web" and r.get("action") == "reap" for r in seen)

        # A circus plugin's subscription goes live some time after its process starts (it
        # says nothing when it is ready), so a kill is repeated until every plugin saw one.
        deadline = time.monotonic() + 30
        while not all(reaped(out) for out in ("change2.jsonl", "a.jsonl", "keep.jsonl")):
            assert time.monotonic() < deadline, "the plugins never saw a reap event"
            (web,) = await wait_until(watcher.pids, what="web's process")
            os.kill(web, signal.SIGKILL)
            await wait_until(lambda web=web: watcher.pids() not in ([], [web]), what="respawn")
        assert not reaped("change1.jsonl") and not reaped("gone.jsonl")

        ini.write_text(ini.read_text() + "\n[plugin:bad]\nuse = no_such_module_x.Plugin\n")
        code, out = await actl(host, "reloadconfig", "--waiting")
        assert code != 0
        assert f"{ini}: [plugin:bad]: cannot import" in out
        assert "bad" not in host.registry and pid("added") is not None


def _circusctl_messages() -> list[tuple[str, dict[str, Any]]]:
    """Every command's message exactly as circusctl builds it (circus's own code), with the
    arguments a user would give and every option at circusctl's default."""
    from circus.commands import get_commands

    args = {
        "add": ("extra", "sleep", "100"),
        "decr": ("web",),
        "get": ("web", "cmd"),
        "incr": ("web",),
        "kill": ("web",),
        "options": ("web",),
        "rm": ("extra",),
        "set": ("web", "numprocesses", "2"),
        "signal": ("web", "USR2"),
    }
    messages = []
    for name, command in sorted(get_commands().items()):
        if name in ("listen", "dstats_ipython", "ipython"):
            continue
        opts = {option[1] or option[0]: option[2] for option in command.options}
        messages.append((name, command.message(*args.get(name, ()), **opts)))
    return messages


async def test_no_command_circusctl_sends_gets_unknown_property(
    runtime_dir: Path, tmp_path: Path
) -> None:
    from circus.client import CircusClient

    ini = ini_with(tmp_path, "[watcher:web]\ncmd = sleep 1000\n")
    messages = _circusctl_messages()
    assert {"stats", "restart", "kill", "globaloptions", "reloadconfig"} <= {n for n, _ in messages}
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        await wait_until(lambda: ZmqService.of(host).circus.watchers["web"].pids(), what="web")

        def send_all() -> dict[str, Any]:
            client = CircusClient(endpoint=ZmqService.of(host).endpoint, timeout=10)
            try:
                return {name: client.call(message) for name, message in messages if name != "quit"}
            finally:
                client.stop()

        replies = await asyncio.to_thread(send_all)
    failed = {name: r for name, r in replies.items() if r.get("status") != "ok"}
    assert not failed, failed

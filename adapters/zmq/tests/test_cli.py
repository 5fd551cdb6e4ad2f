"""``plugyard call``, ``plugyard events`` and ``plugyard-plugin`` against a real host process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import read_lines

BIN = Path(sys.executable).parent


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def write_config(path: Path, runtime_dir: Path, extra: str = "") -> Path:
    path.write_text(
        f"""
[host]
name = "cli"
runtime_dir = "{runtime_dir}"
autoload = false
adapters = ["zmq"]
{extra}
"""
    )
    return path


@pytest.fixture
def host_process(runtime_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """A ``plugyard run`` process; yields its configuration file."""
    config = write_config(tmp_path / "plugyard.toml", runtime_dir)
    process = subprocess.Popen(
        [str(BIN / "plugyard"), "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (runtime_dir / "host.json").exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the host did not start"
            time.sleep(0.05)
        yield config
    finally:
        process.terminate()
        process.wait(20)


def test_call_runs_a_command_and_prints_the_reply(host_process: Path) -> None:
    done = run(str(BIN / "plugyard"), "call", "-c", str(host_process), "LIST")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert "zmq" in reply["plugins"] and "status" not in reply
    published = run(
        str(BIN / "plugyard"),
        "call",
        "-c",
        str(host_process),
        "publish",
        "topic=app.cli",
        'data={"n": 1}',
    )
    assert json.loads(published.stdout)["event"]["data"] == {"n": 1}


def test_call_reports_error_replies_and_exits_non_zero(host_process: Path) -> None:
    done = run(str(BIN / "plugyard"), "call", "-c", str(host_process), "stop", "name=ghost")
    assert done.returncode == 1
    assert "error: no plugin named 'ghost' (errno 3)" in done.stderr


def test_events_tails_the_host_and_stops_after_count(host_process: Path) -> None:
    tail = subprocess.Popen(
        [
            str(BIN / "plugyard"),
            "events",
            "-c",
            str(host_process),
            "--json",
            "--count",
            "2",
            "app.",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tail.stderr is not None
        assert "listening to" in tail.stderr.readline()
        # A subscription reaches the host a moment after the tail says it listens: publish
        # until the tail has had its two events (it misses at most the first few).
        n = 0
        deadline = time.monotonic() + 30
        while tail.poll() is None:
            assert time.monotonic() < deadline, "the tail never got two events"
            run(
                str(BIN / "plugyard"), "call", "-c", str(host_process), "publish", f"topic=app.e{n}"
            )
            n += 1
        out, _ = tail.communicate(timeout=20)
    finally:
        tail.kill()
    events = [json.loads(line) for line in out.splitlines()]
    first = int(events[0]["topic"].removeprefix("app.e"))
    assert [e["topic"] for e in events] == [f"app.e{first}", f"app.e{first + 1}"]
    assert events[1]["seq"] > events[0]["seq"]
    assert all(isinstance(e["seq"], int) and e["source"] == "command" for e in events)


@pytest.mark.parametrize("command", [["call", "list"], ["events"]])
def test_without_a_running_host_the_message_says_so(
    runtime_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    config = write_config(tmp_path / "plugyard.toml", runtime_dir)
    done = run(str(BIN / "plugyard"), command[0], "-c", str(config), *command[1:], timeout=20)
    assert done.returncode != 0
    assert "no host is running here" in done.stderr and "plugyard run" in done.stderr


def test_a_host_that_stopped_answering_times_out_with_a_clear_message(
    runtime_dir: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "plugyard.toml", runtime_dir)
    runtime_dir.mkdir(exist_ok=True)
    facts = {"endpoint": f"ipc://{runtime_dir}/nobody.sock", "pubsub_endpoint": "ipc:///x"}
    (runtime_dir / "host.json").write_text(json.dumps({"pid": os.getpid(), "zmq": facts}))
    started = time.monotonic()
    done = run(str(BIN / "plugyard"), "call", "-c", str(config), "--timeout", "0.5", "list")
    assert done.returncode != 0 and time.monotonic() - started < 10
    assert "no reply to 'list'" in done.stderr and "within 0.5s" in done.stderr


def test_plugyard_plugin_runs_a_plugin_by_hand(
    host_process: Path, tmp_path: Path, runtime_dir: Path
) -> None:
    out = tmp_path / "by-hand.jsonl"
    facts = json.loads((runtime_dir / "host.json").read_text())["zmq"]
    plugin = subprocess.Popen(
        [
            str(BIN / "plugyard-plugin"),
            "--endpoint",
            facts["endpoint"],
            "--pubsub",
            facts["pubsub_endpoint"],
            "--config",
            f"out:{out}:::size:3",
            "--check-delay",
            "1",
            "--log-level",
            "debug",
            "zmq_test_plugins.Recorder",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not any(line.get("topic") == "subscriber.recorder.ready" for line in read_lines(out)):
            assert time.monotonic() < deadline, "the plugin never said hello"
            time.sleep(0.05)
        run(str(BIN / "plugyard"), "call", "-c", str(host_process), "publish", "topic=app.hand")
        while not any(line.get("topic") == "app.hand" for line in read_lines(out)):
            assert time.monotonic() < deadline, "no event reached the plugin"
            time.sleep(0.05)
        plugin.terminate()
        output, _ = plugin.communicate(timeout=10)
    finally:
        plugin.kill()
    lines = read_lines(out)
    assert lines[0]["config"] == {"out": str(out), "size": "3"}, "--config values are strings"
    assert lines[-1] == {"stopped": True}
    for expected in ("Loading the plugin...", "Endpoint: 'ipc://", "Pub/sub: 'ipc://", "Starting"):
        assert expected in output
    assert plugin.returncode == 0

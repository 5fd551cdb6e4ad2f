"""Listings are aligned tables: drawn by rich on a terminal, plain aligned columns (no colour,
no box) in a pipe, and ``--json`` stays JSON.

``plugyard plugins``, ``plugyard status``, ``plugyard tasks list`` and ``plugyard lifecycle
instances``, each run as a user runs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _pty import run_on_a_terminal

ROOT = Path(__file__).resolve().parents[1]
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
EXAMPLES = ROOT / "examples"
ANSI = re.compile(r"\x1b\[")
BOX = re.compile(r"[─━│┃┌┏└┗╭╰]")

pytestmark = pytest.mark.timeout(180)


def piped(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [PLUGYARD, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def on_a_terminal(*args: str, cwd: Path = ROOT) -> str:
    code, out = run_on_a_terminal([PLUGYARD, *args], cwd=cwd)
    assert code == 0, out
    return out


def assert_plain_table(text: str, headers: Sequence[str]) -> list[str]:
    """``text`` is a header line and rows whose columns start where the headers start;
    returns the rows."""
    assert not ANSI.search(text) and not BOX.search(text), text
    header, *rows = [line for line in text.splitlines() if line.strip()]
    starts = [header.index(name) for name in headers]
    assert starts == sorted(starts) and starts[0] == 0, header
    assert rows, text
    for row in rows:
        for start in starts[1:]:
            assert row[start - 2 : start] == "  " and row[start] != " ", (header, row)
    return rows


def assert_drawn(text: str, headers: Sequence[str]) -> None:
    assert BOX.search(text) or ANSI.search(text), text
    assert all(name in text for name in headers), text


# -- plugyard plugins -----------------------------------------------------------------------

PLUGINS = ("NAME", "MODEL", "STATE", "VERSION", "SOURCE", "HOOKS")


def test_plugins_is_a_plain_aligned_table_in_a_pipe() -> None:
    rows = assert_plain_table(piped("plugins", "-c", "examples/plugyard.toml"), PLUGINS)
    names = {row.split()[0]: row.split()[1] for row in rows}
    assert names["logger"] == "zmq" and names["gwexample"] == "celery"


def test_plugins_is_drawn_on_a_terminal_and_json_stays_json() -> None:
    out = on_a_terminal("plugins", "-c", "examples/plugyard.toml")
    assert_drawn(out, PLUGINS)
    assert "gwexample" in out
    records = json.loads(piped("plugins", "-c", "examples/plugyard.toml", "--json"))
    assert {"name", "model", "state", "version", "source", "hooks", "error"} <= set(records[0])


# -- plugyard tasks list --------------------------------------------------------------------


def test_tasks_list_is_a_table_of_tasks_and_their_modules() -> None:
    rows = assert_plain_table(piped("tasks", "list", cwd=EXAMPLES), ("TASK", "MODULE"))
    tasks = dict(row.split() for row in rows)
    assert tasks["gwexample.analyses.tasks.fibonacci"] == "gwexample.analyses.tasks"
    assert_drawn(on_a_terminal("tasks", "list", cwd=EXAMPLES), ("TASK", "MODULE"))


# -- plugyard lifecycle instances -----------------------------------------------------------

INSTANCES = ("INSTANCE", "NODE", "STATE", "RUNTIME PROPERTIES")


def test_lifecycle_instances_is_a_table_with_runtime_properties(tmp_path: Path) -> None:
    blueprint = ROOT / "adapters" / "lifecycle" / "tests" / "blueprints" / "app.yaml"
    storage = str(tmp_path / "web.db")
    piped(
        "lifecycle", "install", str(blueprint), "-i", "app_count=1", "-d", "web",
        "--storage", storage, cwd=tmp_path,
    )  # fmt: skip
    listing = piped("lifecycle", "instances", "-d", "web", "--storage", storage, cwd=tmp_path)
    rows = assert_plain_table(listing, INSTANCES)
    assert len(rows) == 3 and all(row.split()[2] == "started" for row in rows)
    assert any('{"ip": "10.0.0.7"' in row for row in rows)
    drawn = on_a_terminal("lifecycle", "instances", "-d", "web", "--storage", storage, cwd=tmp_path)
    assert_drawn(drawn, INSTANCES)
    data = json.loads(
        piped("lifecycle", "instances", "-d", "web", "--storage", storage, "--json", cwd=tmp_path)
    )
    assert sorted(i["state"] for i in data) == ["started"] * 3


# -- plugyard status ------------------------------------------------------------------------


@pytest.fixture
def running_host() -> Iterator[Path]:
    """``plugyard run`` with the zmq adapter alone and one watcher; yields its config file."""
    folder = Path(tempfile.mkdtemp(prefix="pyt-"))
    config = folder / "plugyard.toml"
    config.write_text(
        f'[host]\nname = "tables"\nruntime_dir = "{folder / "rt"}"\nautoload = false\n'
        'adapters = ["zmq"]\n\n[watchers.web]\ncmd = "sleep 1000"\nnumprocesses = 2\n'
    )
    process = subprocess.Popen(
        [PLUGYARD, "run", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not (folder / "rt" / "host.json").exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "plugyard run did not start"
            time.sleep(0.05)
        yield config
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def test_status_lists_the_running_hosts_plugins_and_one_plugins_details(
    running_host: Path,
) -> None:
    config = str(running_host)
    rows = assert_plain_table(piped("status", "-c", config), ("NAME", "MODEL", "STATE", "ERROR"))
    assert ["web", "watcher", "started", "-"] in [row.split() for row in rows]
    assert ["zmq", "adapter", "loaded", "-"] in [row.split() for row in rows]
    detail = piped("status", "web", "-c", config)
    table, details = detail.split("\n\n")
    assert [row.split() for row in assert_plain_table(table, ("NAME", "MODEL"))] == [
        ["web", "watcher", "started", "-"]
    ]
    lines = assert_plain_table(details, ("DETAIL", "VALUE"))
    pids = json.loads(next(line for line in lines if line.startswith("pids ")).split(None, 1)[1])
    assert len(pids) == 2
    assert_drawn(on_a_terminal("status", "-c", config), ("NAME", "MODEL", "STATE"))
    reply = json.loads(piped("status", "web", "-c", config, "--json"))
    assert reply["details"]["pids"] == pids and reply["status"] == "started"
    assert json.loads(piped("status", "-c", config, "--json"))[0]["name"] == "zmq"

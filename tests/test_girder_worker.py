"""girder_worker plugins, unmodified, on plugyard: an installed distribution that declares a
``girder_worker_plugins`` entry point and writes its tasks with ``girder_worker.app``, driven
through ``plugyard tasks`` and ``plugyard worker`` as a girder_worker user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import PLUGYARD, SAMPLE_PLUGINS, Setup
from _girder_helpers import CHATTY, FIB, WAITER, install_plugins, make_setup

pytest.importorskip("girder_worker", reason="girder-worker is not installed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_plugins(tmp_path_factory.mktemp("plugins"), "gw_arith", "gw_broken")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory, site: Path) -> Iterator[tuple[Setup, Path]]:
    tmp = tmp_path_factory.mktemp("embedded")
    setup = make_setup(tmp, site)
    log = tmp / "worker.log"
    try:
        setup.start_worker(log, "-c", "2")
        yield setup, log
    finally:
        setup.stop_workers()


def plugins(setup: Setup) -> dict[str, dict[str, Any]]:
    out = setup.run("plugins", "--config", str(setup.config), "--json").stdout
    return {row["name"]: row for row in json.loads(out)}


def test_tasks_list_shows_the_plugin_tasks(embedded: tuple[Setup, Path]) -> None:
    setup, _ = embedded
    listed = setup.tasks("list")
    assert {FIB, CHATTY, WAITER} <= set(listed.stdout.split())
    assert "task plugin 'gwbroken' failed" in listed.stderr


def test_worker_banner_lists_them(embedded: tuple[Setup, Path]) -> None:
    _, log = embedded
    text = log.read_text()
    for name in (FIB, CHATTY, WAITER):
        assert f"  . {name}" in text


def test_a_broken_plugin_is_failed_with_its_traceback_and_the_other_loads(
    embedded: tuple[Setup, Path],
) -> None:
    setup, _ = embedded
    rows = plugins(setup)
    assert rows["gwarith"]["state"] == "loaded"
    assert rows["gwarith"]["model"] == "celery"
    broken = rows["gwbroken"]
    assert broken["state"] == "failed"
    assert "BrokenPlugin.task_imports raised RuntimeError" in broken["error"]
    assert "Traceback" in broken["error"]
    assert 'raise RuntimeError("the broken plugin cannot list its tasks")' in broken["error"]


def test_send_and_wait_returns_the_result(embedded: tuple[Setup, Path]) -> None:
    setup, _ = embedded
    task_id, value = setup.tasks("send", FIB, "20", "--wait").stdout.split()
    assert value == "6765"
    status = json.loads(setup.tasks("status", task_id).stdout)
    assert status["status"] == "success"
    assert status["name"] == FIB


def status_of(setup: Setup, task_id: str) -> dict[str, Any]:
    return dict(json.loads(setup.tasks("status", task_id).stdout))


def test_printed_output_is_in_the_job_log_and_progress_in_the_store(
    embedded: tuple[Setup, Path],
) -> None:
    setup, _ = embedded
    task_id, value = setup.tasks("send", CHATTY, "ada", "--wait").stdout.splitlines()
    assert value == '"hi ada"'
    log = setup.tasks("log", task_id, "--follow", "--timeout", "30").stdout
    assert log == (
        "hello from chatty, ada\n"
        "a warning on stderr\n"
        "WARNING gwarith.tasks: a logged warning for ada\n"
        "written to the job log\n"
    )
    status = status_of(setup, task_id)
    assert status["status"] == "success"
    assert (status["total"], status["current"], status["message"]) == (4, 3, "almost there")


def test_cancel_reaches_self_canceled_and_the_job_ends_canceled(
    embedded: tuple[Setup, Path], tmp_path: Path
) -> None:
    setup, log = embedded
    started = tmp_path / "started"
    task_id = setup.tasks("send", WAITER, str(started)).stdout.strip()
    _wait(started.exists, "start of the task")
    _wait(lambda: status_of(setup, task_id)["status"] == "running", "running status")
    reply = json.loads(setup.tasks("cancel", task_id).stdout)
    assert reply["status"] in ("canceling", "canceled")  # the task may have seen it already
    _wait(lambda: status_of(setup, task_id)["status"] == "canceled", "canceled status")
    # The task saw `self.canceled` and returned (it was not killed).
    returned = f"{WAITER}[{task_id}] succeeded in"
    line = _wait(
        lambda: next((ln for ln in log.read_text().splitlines() if returned in ln), None),
        "worker log line of the task's return",
    )
    assert line.endswith(": 'canceled'")
    result = setup.run(
        "tasks", "send", "--config", str(setup.config), FIB, "5", "--wait"
    ).stdout.split()
    assert result[1] == "5"  # the worker goes on


def test_the_plugin_class_can_be_named_in_plugyard_toml(tmp_path: Path) -> None:
    site = install_plugins(tmp_path, "gw_arith")
    shutil.rmtree(next(site.glob("gw_arith-*.dist-info")))  # no entry point: only the config
    setup = make_setup(tmp_path, site, "", "[plugins.arith]", 'use = "gwarith:ArithPlugin"')
    assert FIB in setup.tasks("list").stdout.split()
    assert plugins(setup)["arith"]["state"] == "loaded"


def test_girder_worker_app_does_not_take_over_the_process(tmp_path: Path, site: Path) -> None:
    """In one process (a host with its embedded worker, as ``plugyard run`` has): plugyard's
    app stays current, girder_worker's name for its app is plugyard's app, girder_worker's
    signal handlers are guarded, and a plugyard task and a girder_worker task both run,
    girder_worker's handlers leaving the plugyard task alone."""
    script = tmp_path / "check.py"
    script.write_text(
        """
import json, logging, sys
import celery
from celery import signals
from plugyard.adapters.celery import CeleryService, adapter
from plugyard.host.testing import HostRunner

config = {
    "host": {"runtime_dir": sys.argv[1], "shutdown_timeout": 5},
    "plugins": {
        "sample": {"use": "celery_sample:SamplePlugin"},
        "arith": {"use": "gwarith:ArithPlugin"},
    },
}
said = []
class Said(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())

with HostRunner(config=config, adapters=[adapter]) as runner:
    import girder_worker.app as gw
    logging.getLogger("girder_worker").addHandler(Said())
    service = CeleryService.of(runner.host)
    app = service.app
    names = lambda s: [getattr(r[1], "__name__", repr(r[1])) for r in s.receivers]
    found = {
        "current": celery._state.get_current_app() is app,
        "registry": gw.app.tasks is app.tasks,
        "task_app": gw.app.tasks["gwarith.tasks.fibonacci"].app is app,
        "prerun": names(signals.task_prerun),
        "publish": names(signals.before_task_publish),
        "add": service.send("celery_sample.tasks.add", 2, 3).get(timeout=30),
        "fib": service.send("gwarith.tasks.fibonacci", 10).get(timeout=30),
    }
found["girder_said"] = said
print(json.dumps(found))
"""
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(SAMPLE_PLUGINS)])}
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "state")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["current"] and found["registry"] and found["task_app"]
    assert "gw_task_prerun" not in found["prerun"]
    assert "guarded_gw_task_prerun" in found["prerun"]
    assert "girder_before_task_publish" not in found["publish"]
    assert (found["add"], found["fib"]) == (5, 55)
    # girder_worker's handlers ran for the girder_worker task only (no warnings about a
    # plugyard task's missing Girder job, and none about the girder_worker task's either).
    assert found["girder_said"] == []


def test_without_girder_worker_nothing_changes(tmp_path: Path) -> None:
    """A process where girder_worker cannot be imported: no girder group, no error."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'girder_worker' or name.startswith('girder_worker.'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    config = tmp_path / "plugyard.toml"
    config.write_text(f'[host]\nruntime_dir = "{tmp_path / "state"}"\n')
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    listed = subprocess.run(
        [PLUGYARD, "tasks", "list", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "girder" not in listed.stdout + listed.stderr


def _wait(predicate: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.05)

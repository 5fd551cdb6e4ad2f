"""Progress on long work: a bar on a terminal, never in a pipe or with ``--json``.

``plugyard lifecycle install`` shows operations done of total with the current operation,
``plugyard tasks send --wait`` the task's ``update_progress``, ``plugyard pod launch --watch``
the run's ``set_progress``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _pty import run_on_a_terminal

ROOT = Path(__file__).resolve().parents[1]
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
LC_PLUGINS = ROOT / "adapters" / "lifecycle" / "tests" / "blueprints" / "plugins"
ANSI = re.compile(r"\x1b\[")
BAR = "━"

pytestmark = pytest.mark.timeout(180)

TWO_STEPS = """
plugins:
  test: {{package: lc_testplugin, source: {plugins}}}
node_types:
  step:
    derived_from: plugyard.nodes.Root
    interfaces:
      lifecycle:
        create: {{implementation: test.ops.append, inputs: {{path: {log}}}}}
        configure: {{implementation: test.ops.append, inputs: {{path: {log}}}}}
        start: {{implementation: test.ops.append, inputs: {{path: {log}}}}}
node_templates:
  a: {{type: step}}
  b:
    type: step
    relationships: [{{type: depends_on, target: a}}]
"""


def _blueprint(tmp_path: Path) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(TWO_STEPS.format(plugins=LC_PLUGINS, log=tmp_path / "ops.log"))
    return path


def _install(tmp_path: Path, name: str) -> list[str]:
    storage = tmp_path / f"{name}.db"
    return [
        PLUGYARD,
        "lifecycle",
        "install",
        str(_blueprint(tmp_path)),
        "-d",
        name,
        "--storage",
        str(storage),
    ]


def test_lifecycle_install_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    code, out = run_on_a_terminal(_install(tmp_path, "tty"), cwd=tmp_path)
    assert code == 0, out
    assert BAR in out
    assert "install" in out and "6/6" in out
    assert "install succeeded" in out
    assert out.count(" succeeded") >= 6  # the per-operation lines stay above the bar


def test_lifecycle_install_in_a_pipe_prints_plain_lines_only(tmp_path: Path) -> None:
    done = subprocess.run(
        _install(tmp_path, "pipe"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not ANSI.search(done.stdout) and BAR not in done.stdout
    assert "6/6" not in done.stdout
    assert len([line for line in done.stdout.splitlines() if line.endswith(" succeeded")]) == 6


SAMPLE_TASKS = ROOT / "adapters" / "celery" / "tests" / "plugins"
COUNTDOWN = "celery_sample.tasks.countdown"


@pytest.fixture(scope="module")
def worker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A host with the sample tasks on its embedded worker; yields its configuration file,
    which ``plugyard tasks send`` reads to reach the same broker."""
    from plugyard.adapters.celery import adapter
    from plugyard.host import Config
    from plugyard.host.testing import HostRunner

    tmp = tmp_path_factory.mktemp("tasks")
    config = tmp / "plugyard.toml"
    config.write_text(
        f"[host]\nruntime_dir = {json.dumps(str(tmp / 'state'))}\n"
        f"python_path = [{json.dumps(str(SAMPLE_TASKS))}]\n"
        "[celery]\ncancel_timeout = 5\n"
        '[plugins.sample]\nuse = "celery_sample:SamplePlugin"\n',
        encoding="utf-8",
    )
    if str(SAMPLE_TASKS) not in sys.path:
        sys.path.insert(0, str(SAMPLE_TASKS))
    with HostRunner(config=Config.from_file(config), adapters=[adapter]):
        yield config


def _send(config: Path) -> list[str]:
    return [PLUGYARD, "tasks", "send", "--config", str(config), COUNTDOWN, "25", "0.04", "--wait"]


def test_tasks_send_wait_shows_the_tasks_progress_on_a_terminal(worker_host: Path) -> None:
    code, out = run_on_a_terminal(_send(worker_host), cwd=worker_host.parent)
    assert code == 0, out
    assert BAR in out and "100%" in out
    assert "step " in out  # the message update_progress gave
    assert out.rstrip().endswith('"done"')


def test_tasks_send_wait_in_a_pipe_prints_the_id_and_result_only(worker_host: Path) -> None:
    done = subprocess.run(
        _send(worker_host), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == '"done"', done.stdout
    assert not ANSI.search(done.stdout) and BAR not in done.stdout


POD_FIXTURES = ROOT / "adapters" / "pod" / "tests"


@pytest.fixture
def pod_project(tmp_path: Path) -> Path:
    (tmp_path / "plugyard.toml").write_text(
        f"[host]\nruntime_dir = {json.dumps(str(tmp_path / 'run'))}\n"
        f"[pod]\ndatabase = {json.dumps('sqlite:///' + str(tmp_path / 'pod.db'))}\n"
        'launcher = "inprocess"\n',
        encoding="utf-8",
    )
    (tmp_path / "stepper.json").write_text(
        json.dumps({"plugin_module": "pod_fixtures", "plugin_name": "Stepper"}),
        encoding="utf-8",
    )
    return tmp_path


def _launch(project: Path, *extra: str) -> list[str]:
    return [
        PLUGYARD,
        "pod",
        "launch",
        "--metadata",
        "stepper.json",
        "--watch",
        *extra,
        "-c",
        str(project / "plugyard.toml"),
    ]


def _pod_env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(POD_FIXTURES)}


def test_pod_launch_watch_shows_the_runs_progress_on_a_terminal(pod_project: Path) -> None:
    code, out = run_on_a_terminal(_launch(pod_project), cwd=pod_project, env=_pod_env())
    assert code == 0, out
    assert BAR in out and "100%" in out
    assert "Stepper" in out
    assert ": done" in out


@pytest.mark.parametrize("extra", [(), ("--json",)], ids=["pipe", "json"])
def test_pod_launch_watch_in_a_pipe_or_with_json_shows_no_bar(
    pod_project: Path, extra: tuple[str, ...]
) -> None:
    done = subprocess.run(
        _launch(pod_project, *extra),
        cwd=pod_project,
        env=_pod_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not ANSI.search(done.stdout) and BAR not in done.stdout
    if extra:
        assert json.loads(done.stdout)["status"] == "done"
    else:
        assert ": done" in done.stdout


def test_lifecycle_progress_stays_off_on_a_terminal_when_output_is_json(tmp_path: Path) -> None:
    """``lifecycle instances --json`` on a terminal prints JSON alone."""
    code, out = run_on_a_terminal(_install(tmp_path, "json"), cwd=tmp_path)
    assert code == 0, out
    storage = tmp_path / "json.db"
    code, out = run_on_a_terminal(
        [PLUGYARD, "lifecycle", "instances", "-d", "json", "--storage", str(storage), "--json"],
        cwd=tmp_path,
    )
    assert code == 0, out
    assert BAR not in out and not ANSI.search(out)
    assert {i["state"] for i in json.loads(out)} == {"started"}

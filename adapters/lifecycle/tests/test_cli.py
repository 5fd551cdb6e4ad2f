"""The ``plugyard lifecycle`` command line, driven as a user would: real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).parent
PLUGINS = HERE / "blueprints" / "plugins"
PLUGYARD = str(Path(sys.executable).parent / "plugyard")


def plugyard(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLUGYARD, "lifecycle", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


CHAIN = """
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
  c:
    type: step
    relationships: [{{type: depends_on, target: b}}]
    interfaces:
      lifecycle:
        configure:
          implementation: test.ops.{blocking}
          inputs: {{path: {log}, marker: {marker}}}
  d:
    type: step
    relationships: [{{type: depends_on, target: c}}]
"""


def test_install_outputs_instances_uninstall(tmp_path: Path) -> None:
    blueprint = HERE / "blueprints" / "app.yaml"
    done = plugyard(
        "install",
        str(blueprint),
        "-i",
        "app_count=1",
        "-d",
        "web",
        "--task-retries",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(" succeeded" in line for line in lines[:-1]) == 12
    assert lines[-1].startswith("install succeeded in ")
    assert "12 operations succeeded" in lines[-1]
    assert (tmp_path / ".plugyard" / "lifecycle" / "web.db").is_file()
    outputs = plugyard("outputs", "-d", "web", cwd=tmp_path)
    assert '"host_ip": "10.0.0.7"' in outputs.stdout
    listed = plugyard("instances", "-d", "web", cwd=tmp_path)
    assert sum("started" in line for line in listed.stdout.splitlines()) == 3
    gone = plugyard("uninstall", "-d", "web", cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert "uninstall succeeded" in gone.stdout
    missing = plugyard("outputs", "-d", "nope", cwd=tmp_path)
    assert missing.returncode != 0
    assert "no deployment 'nope'" in missing.stderr


def test_a_failing_install_exits_nonzero_with_causes(tmp_path: Path) -> None:
    blueprint = tmp_path / "bp.yaml"
    blueprint.write_text(
        f"plugins:\n  test: {{package: lc_testplugin, source: {PLUGINS}}}\n"
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    interfaces:\n"
        "      lifecycle:\n        start: test.ops.fail_nonrecoverable\n"
    )
    done = plugyard("install", str(blueprint), "--storage", str(tmp_path / "s.db"), cwd=tmp_path)
    assert done.returncode == 1
    assert "start" in done.stdout
    assert "failed: NonRecoverableError: Failed to start" in done.stdout
    assert "caused by ConnectionRefusedError: nothing listens" in done.stderr


def test_a_malformed_blueprint_is_reported_with_its_path(tmp_path: Path) -> None:
    blueprint = tmp_path / "bp.yaml"
    blueprint.write_text("node_templates:\n  web:\n    type: web.Srver\n")
    done = plugyard("install", str(blueprint), cwd=tmp_path)
    assert done.returncode == 1
    assert "node_templates.web.type: unknown node type 'web.Srver'" in done.stderr


def _install_and_kill(tmp_path: Path, blocking: str) -> tuple[Path, str]:
    """Install the chain blueprint and SIGKILL it while c's configure runs."""
    log, marker = tmp_path / "ran.log", tmp_path / "blocking"
    blueprint = tmp_path / "chain.yaml"
    blueprint.write_text(CHAIN.format(plugins=PLUGINS, log=log, marker=marker, blocking=blocking))
    storage = str(tmp_path / "chain.db")
    proc = subprocess.Popen(
        [
            PLUGYARD,
            "lifecycle",
            "install",
            str(blueprint),
            "-d",
            "chain",
            "--storage",
            storage,
            "--task-retries",
            "0",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the blocking operation never started"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    return log, storage


@pytest.mark.timeout(240)
def test_killed_install_resumes_without_rerunning_succeeded_operations(tmp_path: Path) -> None:
    log, storage = _install_and_kill(tmp_path, "block_once_resumable")
    before = log.read_text().splitlines()
    assert [line.split()[1] for line in before[-1:]] == ["configure"]
    resumed = plugyard("resume", "-d", "chain", "--storage", storage, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" not in resumed.stderr
    assert "7 skipped" in resumed.stdout.splitlines()[-1]
    after = Counter(log.read_text().splitlines())
    c_configure = next(
        line for line in before if line.endswith(" configure") and line.startswith("c_")
    )
    for line in before:
        assert after[line] == (2 if line == c_configure else 1), line
    assert sum(after.values()) == 12 + 1
    listed = plugyard("instances", "-d", "chain", "--storage", storage, cwd=tmp_path)
    assert sum(" started " in f" {line} " for line in listed.stdout.splitlines()) == 4


@pytest.mark.timeout(240)
def test_resume_refuses_to_rerun_an_interrupted_operation_not_marked_resumable(
    tmp_path: Path,
) -> None:
    log, storage = _install_and_kill(tmp_path, "block_once")
    before = log.read_text().splitlines()
    assert before[-1].split()[1] == "configure"
    refused = plugyard("resume", "-d", "chain", "--storage", storage, cwd=tmp_path)
    assert refused.returncode == 1
    assert "configure (test.ops.block_once) was running when execution" in refused.stderr
    assert "--reset-operations" in refused.stderr
    assert log.read_text().splitlines() == before
    again = plugyard("resume", "-d", "chain", "--storage", storage, cwd=tmp_path)
    assert again.returncode == 1, "a second resume must refuse too"
    assert log.read_text().splitlines() == before
    reset = plugyard(
        "resume", "-d", "chain", "--storage", storage, "--reset-operations", cwd=tmp_path
    )
    assert reset.returncode == 0, reset.stderr
    after = Counter(log.read_text().splitlines())
    assert after[before[-1]] == 2
    assert sum(after.values()) == 12 + 1


@pytest.mark.timeout(240)
def test_a_killed_install_leaves_instance_states_in_step_with_operation_records(
    tmp_path: Path,
) -> None:
    from plugyard.adapters.lifecycle._storage import Storage

    _install_and_kill(tmp_path, "block_once")
    listed = plugyard(
        "instances",
        "-d",
        "chain",
        "--storage",
        str(tmp_path / "chain.db"),
        "--json",
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    states = {i["node_id"]: i["state"] for i in json.loads(listed.stdout)}
    # c's create succeeded and its configure was running when the process died.
    assert states == {"a": "started", "b": "started", "c": "created", "d": "uninitialized"}
    storage = Storage(tmp_path / "chain.db")
    try:
        (execution,) = storage.list_executions("chain")
        succeeded: dict[str, set[str]] = {}
        for op in storage.get_operations(execution.id):
            if op["state"] == "succeeded":
                instance, _, name = op["key"].partition(":")
                succeeded.setdefault(instance, set()).add(name.rsplit(".", 1)[-1])
        by_node = {i.node_id: i for i in storage.get_node_instances("chain")}
    finally:
        storage.close()
    expected = {"create": "created", "configure": "configured", "start": "started"}
    for node, instance in by_node.items():
        done = succeeded.get(instance.id, set())
        last = [expected[op] for op in ("create", "configure", "start") if op in done]
        assert instance.state == (last[-1] if last else "uninitialized"), (node, done)


@pytest.mark.timeout(240)
async def test_a_host_starting_after_a_kill_marks_the_dead_execution_failed(
    tmp_path: Path,
) -> None:
    from plugyard.adapters.lifecycle._adapter import adapter
    from plugyard.host.testing import run_host

    log, _ = _install_and_kill(tmp_path, "block_once_resumable")
    config = {
        "lifecycle": {
            "storage_dir": str(tmp_path),
            "deployments": {"chain": {"blueprint": str(tmp_path / "chain.yaml")}},
        }
    }
    async with run_host(config=config, adapters=[adapter]) as host:
        listed = await host.run_command("lifecycle.executions", deployment="chain")
        (execution,) = listed["executions"]
        assert execution["status"] == "failed"
        assert execution["error"]["type"] == "HostDied"
        assert f"the host running execution {execution['id']} (" in execution["error"]["message"]
        assert "died before it ended" in execution["error"]["message"]
        status = await host.run_command("lifecycle.status", deployment="chain")
        assert status["last_execution"]["status"] == "failed"
    # The failed execution still resumes from where it was.
    resumed = plugyard(
        "resume", "-d", "chain", "--storage", str(tmp_path / "chain.db"), cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    assert sum(Counter(log.read_text().splitlines()).values()) == 12 + 1

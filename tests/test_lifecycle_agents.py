"""The agent model: with ``[lifecycle] executor = "celery"`` a blueprint's operations run
as Celery tasks on ``plugyard worker`` processes serving their hosts' queues, over the
machine's RabbitMQ, Redis and PostgreSQL; a worker killed mid-operation is survived."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import PLUGYARD, ROOT, Setup, _rabbit_vhost

from plugyard.adapters.lifecycle import Storage
from plugyard.adapters.lifecycle.local import init_env
from plugyard.sdk.testing import require_service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PLUGINS = ROOT / "adapters" / "lifecycle" / "tests" / "blueprints" / "plugins"

SPREAD = f"""
plugins:
  x: {{package: lc_execplugin, source: "{PLUGINS}"}}
node_templates:
  vm_a:
    type: plugyard.nodes.Root
    interfaces: {{lifecycle: {{create: x.ops.record_pid}}}}
  vm_b:
    type: plugyard.nodes.Root
    interfaces: {{lifecycle: {{create: x.ops.record_pid}}}}
  app_a:
    type: plugyard.nodes.Root
    relationships: [{{type: plugyard.relationships.contained_in, target: vm_a}}]
    interfaces: {{lifecycle: {{create: x.ops.record_pid}}}}
"""

HOLD = f"""
plugins:
  x: {{package: lc_execplugin, source: "{PLUGINS}"}}
inputs:
  queue: {{type: string}}
  pids: {{type: string}}
  release: {{type: string}}
node_templates:
  job:
    type: plugyard.nodes.Root
    properties: {{agent_queue: {{get_input: queue}}}}
    interfaces:
      lifecycle:
        create:
          implementation: x.ops.OPERATION
          inputs: {{pids: {{get_input: pids}}, release: {{get_input: release}}}}
"""


def _wait_for(what: str, check: object, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.05)


def _lines(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@dataclass
class Cluster:
    """Two ``plugyard worker`` processes (solo pool: operations run in the worker's own
    process), each serving its host's queue and a queue they share."""

    setup: Setup
    storage_url: str
    tmp: Path
    queues: dict[str, str]
    shared: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def ensure(self) -> None:
        """Both workers running (one killed by a test before is started again)."""
        for name, queue in self.queues.items():
            proc = self.workers.get(name)
            if proc is not None and proc.poll() is None:
                continue
            log = self.tmp / f"worker-{name}-{secrets.token_hex(2)}.log"
            self.workers[name] = self.setup.start_worker(
                log, "-P", "solo", "-Q", f"{queue},{self.shared}", "-n", f"{name}@%h"
            )

    def lifecycle(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return self.setup.run(
            "lifecycle", *args, "--config", str(self.setup.config), timeout=timeout, check=False
        )

    def start_install(self, blueprint: Path, deployment: str, log: Path, *inputs: str) -> Any:
        args = [PLUGYARD, "lifecycle", "install", str(blueprint), "-d", deployment, "-v"]
        args += ["--config", str(self.setup.config), "--task-retries", "0"]
        for item in inputs:
            args += ["-i", item]
        return subprocess.Popen(
            args, env=self.setup.env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_service("postgresql")
    require_service("rabbitmq")
    require_service("redis")
    import psycopg

    tmp = tmp_path_factory.mktemp("agents")
    schema = f"lifecycle_agents_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    vhost = _rabbit_vhost()
    assert vhost is not None, "rabbitmqctl could not add a vhost"
    url = f"postgresql://127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    config = tmp / "plugyard.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [host]
            runtime_dir = "{tmp / "state"}"

            [celery]
            broker_url = "amqp://guest:guest@127.0.0.1:5672/{vhost}"
            result_backend = "redis://127.0.0.1:6379/15"
            result_expires = 600
            worker_prefetch_multiplier = 1

            [lifecycle]
            executor = "celery"
            storage = "{url}"
            """
        )
    )
    env = {**os.environ, "PLUGYARD_CONFIG": str(config)}
    spread = tmp / "spread.yaml"
    spread.write_text(SPREAD)
    deployment = init_env(spread, "spread", storage=url)
    ids = {i.node_id: i.id for i in deployment.storage.get_node_instances("spread")}
    deployment.close()
    cluster = Cluster(
        Setup("rabbitmq", config, env),
        url,
        tmp,
        {"a": ids["vm_a"], "b": ids["vm_b"]},
        f"shared-{secrets.token_hex(3)}",
    )
    try:
        cluster.ensure()
        yield cluster
    finally:
        cluster.setup.stop_workers()
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_vhost", vhost], timeout=30, capture_output=True
        )
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_operations_run_on_the_workers_of_their_hosts_queues(cluster: Cluster) -> None:
    cluster.ensure()
    done = cluster.lifecycle("install", str(cluster.tmp / "spread.yaml"), "-d", "spread", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    storage = Storage(cluster.storage_url)
    pids = {i.node_id: i.runtime_properties["pid"] for i in storage.get_node_instances("spread")}
    storage.close()
    worker_a, worker_b = cluster.workers["a"].pid, cluster.workers["b"].pid
    # app_a is contained in vm_a, so it runs on vm_a's queue.
    assert pids == {"vm_a": worker_a, "app_a": worker_a, "vm_b": worker_b}
    # The workers' ctx.logger lines reach the host's event stream (printed with -v).
    assert f"log: ran in {worker_a}" in done.stdout
    assert f"log: ran in {worker_b}" in done.stdout


def _kill_holder(cluster: Cluster, pids: Path, install: Any, log: Path) -> tuple[int, int]:
    """SIGKILL the worker that runs the held operation; (its pid, the other's pid)."""

    def started() -> bool:
        assert install.poll() is None, f"install ended early:\n{log.read_text()}"
        return bool(_lines(pids))

    _wait_for("the operation starting on a worker", started)
    (holder,) = _lines(pids)
    by_pid = {proc.pid: name for name, proc in cluster.workers.items()}
    assert holder in by_pid, f"the operation ran in {holder}, not in a worker {by_pid}"
    os.killpg(holder, signal.SIGKILL)
    cluster.workers[by_pid[holder]].wait(30)
    (other,) = (pid for pid in by_pid if pid != holder)
    return holder, other


def test_a_worker_of_another_hook_spec_major_refuses_the_operation(cluster: Cluster) -> None:
    from plugyard.sdk import SPEC_VERSION

    other = f"{int(SPEC_VERSION.split('.')[0]) + 1}.0"
    tmp = cluster.tmp / "spec"
    tmp.mkdir()
    queue = f"spec-{secrets.token_hex(3)}"
    worker_log = tmp / "worker.log"
    worker = cluster.setup.start_worker(worker_log, "-P", "solo", "-Q", queue, spec=other)
    try:
        blueprint, pids = tmp / "hold.yaml", tmp / "pids"
        blueprint.write_text(HOLD.replace("OPERATION", "record_pid"))
        log = tmp / "install.log"
        install = cluster.start_install(
            blueprint, "spec", log, f"queue={queue}", f"pids={pids}", f"release={tmp}"
        )
        try:
            assert install.wait(240) == 1, log.read_text()
        finally:
            if install.poll() is None:
                install.kill()
                install.wait()
    finally:
        cluster.setup.stop_worker(worker)
    for text in (log.read_text(), worker_log.read_text()):
        assert f"this worker speaks hook spec {other}" in text, text
        assert f"the host that sent it speaks {SPEC_VERSION}" in text, text
    assert not pids.exists()
    storage = Storage(cluster.storage_url)
    (job,) = storage.get_node_instances("spec")
    storage.close()
    assert "pid" not in job.runtime_properties


def test_a_resumable_operation_runs_again_on_the_other_worker(cluster: Cluster) -> None:
    cluster.ensure()
    tmp = cluster.tmp / "resumable"
    tmp.mkdir()
    blueprint, pids, release = tmp / "hold.yaml", tmp / "pids", tmp / "release"
    blueprint.write_text(HOLD.replace("OPERATION", "hold"))
    log = tmp / "install.log"
    install = cluster.start_install(
        blueprint, "held", log, f"queue={cluster.shared}", f"pids={pids}", f"release={release}"
    )
    try:
        holder, other = _kill_holder(cluster, pids, install, log)
        _wait_for("the operation running again", lambda: len(_lines(pids)) == 2)
        release.touch()
        assert install.wait(240) == 0, log.read_text()
    finally:
        if install.poll() is None:
            install.kill()
            install.wait()
    assert _lines(pids) == [holder, other]
    storage = Storage(cluster.storage_url)
    (job,) = storage.get_node_instances("held")
    storage.close()
    assert job.runtime_properties["held_by"] == other
    assert job.state == "started"


def test_a_non_resumable_operation_is_left_for_resume_and_ran_once(cluster: Cluster) -> None:
    cluster.ensure()
    tmp = cluster.tmp / "once"
    tmp.mkdir()
    blueprint, pids, release = tmp / "hold.yaml", tmp / "pids", tmp / "release"
    blueprint.write_text(HOLD.replace("OPERATION", "hold_once"))
    log = tmp / "install.log"
    install = cluster.start_install(
        blueprint, "once", log, f"queue={cluster.shared}", f"pids={pids}", f"release={release}"
    )
    try:
        holder, other = _kill_holder(cluster, pids, install, log)
        assert install.wait(240) == 1, log.read_text()
    finally:
        if install.poll() is None:
            install.kill()
            install.wait()
    output = log.read_text()
    assert "was interrupted" in output and "--reset-operations" in output
    assert _lines(pids) == [holder]
    storage = Storage(cluster.storage_url)
    (execution,) = storage.list_executions("once")
    rows = storage.get_operations(execution.id)
    storage.close()
    assert execution.status == "failed"
    assert [r["state"] for r in rows] == ["interrupted"]
    # Resume refuses to run it blindly; --reset-operations runs it (on the surviving worker).
    refused = cluster.lifecycle("resume", "-d", "once")
    assert refused.returncode == 1
    assert "not marked resumable" in refused.stderr
    assert _lines(pids) == [holder]
    release.touch()
    resumed = cluster.lifecycle("resume", "-d", "once", "--reset-operations")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _lines(pids) == [holder, other]

"""A pod run's handshake: the host passes its hook spec version to the run, and a plugin
written against a version the host cannot serve is refused by the run, which says why to
both its own output and the host (the run's status)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.pod import PodService
from plugyard.sdk import SPEC_VERSION
from plugyard.sdk.pod import ENV_SPEC_VERSION

pytestmark = pytest.mark.timeout(60)

REFUSED = (
    f"plugin pod_fixtures.FromTheFuture was written against hook spec 2.0, but the host "
    f"speaks {SPEC_VERSION}: a different major version"
)


@pytest.mark.parametrize("launcher", ["inprocess", "process"])
async def test_a_plugin_of_another_major_version_is_refused_on_both_sides(
    host: Any, launcher: str
) -> None:
    pod = PodService.of(host)
    fields = {"plugin_module": "pod_fixtures", "plugin_name": "FromTheFuture", "config": {}}
    run = await pod.launch(fields, launcher)
    final = await pod.wait(run["id"], 20)
    assert final["status"] == "error"
    assert final["error"] == REFUSED
    topics = [t for t in host.recorder.topics if t.startswith(f"pod.run.{run['id']}.")]
    assert f"pod.run.{run['id']}.started" not in topics  # refused before the plugin ran
    if launcher == "process":
        assert final["exit_code"] == 2
        assert any(REFUSED in line for line in pod.runs.logs(run["id"]))


async def test_a_process_run_is_told_the_hosts_version(host: Any) -> None:
    pod = PodService.of(host)
    fields = {"plugin_module": "pod_fixtures", "plugin_name": "Hang", "config": {"seconds": 30}}
    run = await pod.launch(fields, "process")
    deadline = asyncio.get_running_loop().time() + 15
    while pod.client().get_run(run["id"]).status != "started":
        assert asyncio.get_running_loop().time() < deadline, "the run did not start"
        await asyncio.sleep(0.02)
    pid = host.processes.get(f"pod-run-{run['id']}").pid
    environ = (await asyncio.to_thread(Path(f"/proc/{pid}/environ").read_bytes)).split(b"\0")
    assert f"{ENV_SPEC_VERSION}={SPEC_VERSION}".encode() in environ
    await pod.runs.abort(run["id"])

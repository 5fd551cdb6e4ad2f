"""Chaos: SIGKILL a host in the middle of a lifecycle install, resume it, and check that every
operation's runtime properties are stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _chaos import HELPERS, PLUGYARD, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BLUEPRINT = """
plugins:
  chaos: {{package: chaos_ops, source: {helpers}}}
node_types:
  step:
    derived_from: plugyard.nodes.Root
    interfaces:
      lifecycle:
        create: {{implementation: chaos.ops.step, inputs: {inputs}}}
        configure: {{implementation: chaos.ops.step, inputs: {inputs}}}
        start: {{implementation: chaos.ops.step, inputs: {inputs}}}
node_templates:
  a: {{type: step}}
  b: {{type: step, relationships: [{{type: depends_on, target: a}}]}}
  c: {{type: step, relationships: [{{type: depends_on, target: b}}]}}
  d: {{type: step, relationships: [{{type: depends_on, target: c}}]}}
"""


def lifecycle(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLUGYARD, "lifecycle", *args, "-d", "chaos", "--storage", str(folder / "chaos.db")],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_host_killed_mid_install_resumes_with_every_runtime_property_stored_once(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "blocking"
    inputs = json.dumps({"marker": str(marker), "block_on": "c"})
    blueprint = tmp_path / "chaos.yaml"
    blueprint.write_text(BLUEPRINT.format(helpers=HELPERS, inputs=inputs))
    storage = str(tmp_path / "chaos.db")
    with (tmp_path / "install.log").open("wb") as log:
        install = subprocess.Popen(
            [PLUGYARD, "lifecycle", "install", str(blueprint), "-d", "chaos",
             "--storage", storage, "--task-retries", "0"],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def blocked() -> bool:
            assert install.poll() is None, (tmp_path / "install.log").read_text()
            return marker.exists()

        until("c's configure is running", blocked, 60)
        os.kill(install.pid, signal.SIGKILL)
        install.wait(30)
    finally:
        if install.poll() is None:
            install.kill()
            install.wait(30)

    def ran() -> dict[str, list[str]]:
        from plugyard.adapters.lifecycle._storage import Storage

        store = Storage(storage)
        try:
            found = store.get_node_instances("chaos")
        finally:
            store.close()
        return {i.node_id: i.runtime_properties.get("ran", []) for i in found}

    killed = ran()
    assert killed == {
        "a": ["create", "configure", "start"],
        "b": ["create", "configure", "start"],
        "c": ["create"],  # the configure in flight had stored nothing yet
        "d": [],
    }
    resumed = lifecycle(tmp_path, "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert ran() == {node: ["create", "configure", "start"] for node in "abcd"}

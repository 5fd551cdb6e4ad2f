"""``plugyard lifecycle`` on a Cloudify blueprint, driven as a user would: a custom workflow
run with ``execute WORKFLOW -p key=value``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cloudify.decorators", reason="cloudify-common is not installed")

HERE = Path(__file__).parent
PLUGYARD = str(Path(sys.executable).parent / "plugyard")


def plugyard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(HERE / "plugins")}
    return subprocess.run(
        [PLUGYARD, "lifecycle", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_execute_runs_a_blueprint_workflow_with_parameters(tmp_path: Path) -> None:
    storage = str(tmp_path / "wf.db")
    blueprint = str(HERE / "blueprints" / "workflows.yaml")
    common = ("-d", "wf", "--storage", storage)
    installed = plugyard("install", blueprint, *common, "--task-retries", "0", cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    touched = plugyard("execute", "touch", "-p", "label=from-cli", *common, cwd=tmp_path)
    assert touched.returncode == 0, touched.stderr
    missing = plugyard("execute", "touch", *common, cwd=tmp_path)
    assert missing.returncode == 1
    assert "parameter 'label' is required" in missing.stderr
    listed = plugyard("instances", *common, "--json", cwd=tmp_path)
    labels = {i["node_id"]: i["runtime_properties"]["labels"] for i in json.loads(listed.stdout)}
    assert labels == {"first": ["start", "from-cli"], "second": ["start", "from-cli"]}

"""Secrets: ``plugyard lifecycle secrets`` keeps them, ``get_secret`` reads them where a
blueprint asks (operation inputs, node properties), and no event or log carries a value."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from plugyard.adapters.lifecycle._secrets import SecretStore
from plugyard.adapters.lifecycle.local import init_env
from plugyard.sdk.lifecycle import WorkflowFailed

PLUGYARD = str(Path(sys.executable).parent / "plugyard")
VALUE = "s3cr3t-Value-41"
BLUEPRINT = """
node_types:
  keeper:
    derived_from: plugyard.nodes.Root
    properties:
      password: {type: string}
node_templates:
  app:
    type: keeper
    properties:
      password: {get_secret: db_password}
    interfaces:
      lifecycle:
        create:
          implementation: test.ops.record
          inputs:
            token: {get_secret: [api, token]}
        configure:
          implementation: test.ops.copy_property
          inputs: {name: password}
"""


def secrets_cli(
    *args: str, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLUGYARD, "lifecycle", "secrets", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_secrets_command_sets_lists_gets_and_deletes(tmp_path: Path) -> None:
    storage = ("--storage", str(tmp_path / "s.db"))
    assert secrets_cli("set", "db_password", VALUE, *storage, cwd=tmp_path).returncode == 0
    typed = secrets_cli("set", "api", *storage, cwd=tmp_path, stdin='{"token": "t0k"}\n')
    assert typed.returncode == 0, typed.stderr
    assert '{"token"' not in typed.stdout
    listed = secrets_cli("list", *storage, cwd=tmp_path)
    assert listed.stdout.split() == ["api", "db_password"]
    assert VALUE not in listed.stdout
    assert secrets_cli("get", "db_password", *storage, cwd=tmp_path).stdout.strip() == VALUE
    assert secrets_cli("delete", "api", *storage, cwd=tmp_path).returncode == 0
    missing = secrets_cli("get", "api", *storage, cwd=tmp_path)
    assert missing.returncode == 1
    assert "no secret 'api'" in missing.stderr
    bad = secrets_cli("set", "no spaces", "x", *storage, cwd=tmp_path)
    assert bad.returncode == 1
    assert "secret key 'no spaces'" in bad.stderr


@pytest.mark.usefixtures("calls")
def test_get_secret_reaches_operations_but_no_event(
    write_blueprint: Callable[[str], Path], tmp_path: Path
) -> None:
    storage = tmp_path / "d.db"
    env = init_env(write_blueprint(BLUEPRINT), storage=storage)
    store = SecretStore(env.storage)
    store.set("db_password", VALUE)
    store.set("api", json.dumps({"token": "t0k"}))
    try:
        env.execute("install", task_retries=0)
        (instance,) = env.storage.get_node_instances()
        assert instance.runtime_properties["inputs"] == {"token": "t0k"}
        assert instance.runtime_properties["password"] == VALUE
        assert env.blueprint.nodes["app"].properties["password"] == {"get_secret": "db_password"}
        events = json.dumps(env.storage.get_events(), default=str)
    finally:
        env.close()
    assert VALUE not in events


@pytest.mark.usefixtures("calls")
def test_a_missing_secret_fails_the_operation_naming_the_key_only(
    write_blueprint: Callable[[str], Path],
) -> None:
    env = init_env(write_blueprint(BLUEPRINT))
    SecretStore(env.storage).set("db_password", VALUE)
    try:
        with pytest.raises(WorkflowFailed) as failure:
            env.execute("install", task_retries=2, task_retry_interval=0)
        events = json.dumps(env.storage.get_events(), default=str)
    finally:
        env.close()
    message = str(failure.value)
    assert "get_secret: no secret 'api'" in message
    assert "plugyard lifecycle secrets set api" in message
    assert failure.value.error_type == "NonRecoverableError"
    assert VALUE not in message
    assert VALUE not in events

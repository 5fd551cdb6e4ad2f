"""The Cloudify layer is there only with cloudify-common: without it, native plugins run as
before and nothing of the layer is imported; with it, Cloudify's markers are read."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

APP = Path(__file__).parents[1] / "blueprints" / "app.yaml"

WITHOUT_CLOUDIFY = """
import sys
sys.modules["cloudify"] = None  # as if cloudify-common were not installed
from plugyard.adapters.lifecycle import compat
from plugyard.adapters.lifecycle.local import init_env

assert not compat.cloudify_installed()
env = init_env({app!r}, inputs={{"app_count": 1}})
result = env.execute("install", task_retries=0)
assert result["status"] == "succeeded", result
loaded = [m for m in sys.modules if m.startswith("plugyard.adapters.lifecycle.compat._")]
assert loaded == [], loaded
print("ok", result["succeeded"])
"""


def test_native_plugins_run_without_cloudify_common_and_the_layer_stays_unloaded() -> None:
    code = textwrap.dedent(WITHOUT_CLOUDIFY.format(app=str(APP)))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


@pytest.mark.usefixtures("cloudify_plugins")
def test_cloudify_resumable_marker_is_read() -> None:
    pytest.importorskip("cloudify.decorators", reason="cloudify-common is not installed")
    from cfy_errors import ops  # type: ignore[import-not-found]

    from plugyard.adapters.lifecycle._runner import is_resumable

    assert is_resumable(ops.fail_hard)
    assert not is_resumable(ops.recover_twice)


@pytest.mark.usefixtures("cloudify_plugins")
def test_cloudify_plugins_see_cloudify_context_and_native_ones_keep_theirs() -> None:
    pytest.importorskip("cloudify.decorators", reason="cloudify-common is not installed")
    from cfy_errors import ops  # type: ignore[import-not-found]

    from plugyard.adapters.lifecycle.compat._cloudify_operation import is_cloudify_function
    from plugyard.sdk.lifecycle import operation

    @operation
    def native(**kwargs: object) -> None:
        pass

    assert is_cloudify_function(ops.recover_twice)
    assert not is_cloudify_function(native)


SCRIPTS_WITHOUT_CLOUDIFY = """
import sys
sys.modules["cloudify"] = None
sys.modules["script_runner"] = None
from plugyard.adapters.lifecycle import BlueprintError, load_blueprint
try:
    load_blueprint({blueprint!r})
except BlueprintError as error:
    print(error)
"""


def test_the_script_plugin_without_cloudify_common_is_a_clear_error() -> None:
    blueprint = Path(__file__).parent / "blueprints" / "scripts" / "blueprint.yaml"
    code = textwrap.dedent(SCRIPTS_WITHOUT_CLOUDIFY.format(blueprint=str(blueprint)))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "node_templates.app.interfaces.cloudify.interfaces.lifecycle.create" in done.stdout
    assert "the script plugin comes with cloudify-common" in done.stdout

"""Configuration checked before start: a value that validates but cannot work is refused by
``plugyard run`` with exit 1 and a message naming the file and the key, never a traceback,
and the host never starts half-configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PLUGYARD = str(Path(sys.executable).parent / "plugyard")


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("[zmq]\nsndhwm = 9223372036854775807\n", "zmq.sndhwm"),
        ("[celery]\nbroker_url = 5\n", "celery.broker_url"),
        ('[celery]\nworker_prefetch_multiplier = "four"\n', "celery.worker_prefetch_multiplier"),
        ('[pod]\ndatabase = "nonsense://x"\n', "pod.database"),
        (
            '[lifecycle.deployments.web]\nblueprint = "missing.yaml"\n',
            "lifecycle.deployments.web.blueprint",
        ),
        ("[host]\nhook_timeout = inf\n", "host.hook_timeout"),
    ],
)
def test_an_unusable_value_stops_run_with_the_file_and_key(
    tmp_path: Path, section: str, key: str
) -> None:
    config = tmp_path / "plugyard.toml"
    host = f'[host]\nruntime_dir = "{tmp_path / "run"}"\n'
    if section.startswith("[host]"):
        host += section.removeprefix("[host]\n")
        section = ""
    config.write_text(host + section)
    done = subprocess.run(
        [PLUGYARD, "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert f"{config}: {key}:" in done.stderr
    assert "Traceback" not in done.stderr
    assert "running with" not in done.stderr  # it never started


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLUGYARD, "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_an_active_plugin_name_with_a_path_is_refused_and_never_imported(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    marker = tmp_path / "imported"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = tmp_path / "plugyard.toml"
    config.write_text(
        f'[host]\nruntime_dir = "{tmp_path / "run"}"\nplugin_dirs = ["plugins"]\n'
        'active_plugins = ["../evil"]\n'
    )
    done = _run(config)
    assert done.returncode == 1, done.stderr
    assert f"{config}: host.active_plugins" in done.stderr
    assert "'../evil' is not a plugin name" in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists()


def test_a_deeply_nested_configuration_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "plugyard.toml"
    config.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
    done = _run(config)
    assert done.returncode == 1, done.stderr
    assert f"{config}: not usable TOML: arrays or tables nested too deeply" in done.stderr
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr


def test_a_runtime_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    config = tmp_path / "plugyard.toml"
    config.write_text('[host]\nruntime_dir = "a-file/run"\n')
    done = _run(config)
    assert done.returncode == 1, done.stderr
    assert f"{config}: host.runtime_dir: cannot create {tmp_path / 'a-file' / 'run'}" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr

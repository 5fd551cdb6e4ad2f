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

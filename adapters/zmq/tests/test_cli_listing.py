"""Loading the zmq adapter for the CLI stays light, and `plugyard plugins` lists subscribers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_the_entry_point_object_imports_without_zmq_or_pydantic() -> None:
    code = (
        "import sys\n"
        "from plugyard.adapters.zmq._adapter import adapter\n"
        "print([m for m in ('zmq', 'pydantic', 'plugyard.host._host') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_plugyard_lists_configured_subscriber_plugins(tmp_path: Path, test_plugins: Path) -> None:
    config = tmp_path / "plugyard.toml"
    config.write_text(
        '[host]\nautoload = false\nadapters = ["zmq"]\n\n'
        '[plugins.logger]\nuse = "plugyard.adapters.zmq.plugins:EventLogger"\nfilename = "x.log"\n'
    )
    done = subprocess.run(
        [str(BIN / "plugyard"), "plugins", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    record = next(r for r in json.loads(done.stdout) if r["name"] == "logger")
    assert (record["model"], record["state"]) == ("zmq", "loaded")
    help_text = subprocess.run(
        [str(BIN / "plugyard"), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "call" in help_text and "events" in help_text

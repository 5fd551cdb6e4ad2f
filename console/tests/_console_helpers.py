"""Helpers of the console tests: the configuration of examples/plugyard.toml (one plugin of
each model) with its state in a temporary folder, plus the sample Celery tasks."""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "plugyard.toml"
SAMPLE_TASKS = ROOT / "adapters" / "celery" / "tests" / "plugins"
COUNTDOWN = "celery_sample.tasks.countdown"
GATED = Path(__file__).parent / "gated" / "blueprint.yaml"
"""Two steps whose start waits for the file ``gate`` names (in the host's temporary folder)."""
ONE_OF_EACH = {
    "webserver": "lifecycle",
    "logger": "zmq",
    "background_plugin_example": "asyncio",
    "gwexample": "celery",
    "dog": "pod",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def example_config(tmp: Path, **console: Any) -> dict[str, Any]:
    """examples/plugyard.toml with its state in ``tmp``, the web server's port free, the
    sample tasks as one more plugin, and ``[console]`` settings."""
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["host"] = {
        **raw["host"],
        "runtime_dir": str(tmp / "run"),
        "shutdown_timeout": 5,
        "python_path": [*raw["host"]["python_path"], str(SAMPLE_TASKS)],
    }
    raw["lifecycle"] = {"storage_dir": str(tmp / "lc")}
    raw["lifecycle"]["deployments"] = {
        "web": {**tomllib.loads(EXAMPLE_CONFIG.read_text())["lifecycle"]["deployments"]["web"]}
    }
    raw["lifecycle"]["deployments"]["web"]["inputs"] = {"port": free_port()}
    raw["lifecycle"]["deployments"]["gated"] = {
        "blueprint": str(GATED),
        "inputs": {"gate": str(tmp / "gate")},
    }
    raw["celery"] = {"state_dir": str(tmp / "celery"), "cancel_timeout": 2.0}
    raw["pod"] = {"database": f"sqlite:///{tmp / 'pod.db'}"}
    raw["plugins"]["sample"] = {"use": "celery_sample:SamplePlugin"}
    raw["plugins"]["logger"]["filename"] = str(tmp / "events.log")
    if console:
        raw["console"] = console
    return raw


@dataclass
class Console:
    """The running host and where its console is."""

    runner: Any
    url: str
    token: str
    tmp: Path

    @property
    def host(self) -> Any:
        return self.runner.host

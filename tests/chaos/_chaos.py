"""A real ``plugyard run`` host for the chaos tests: every model's sockets and ports up, test
plugins importable by the host and its child processes, and helpers to reach and kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HELPERS = Path(__file__).parent / "helpers"
PLUGYARD = str(Path(sys.executable).parent / "plugyard")


def until(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """``check()``'s first truthy value; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(0.05)
    return found


class ChaosHost:
    """A project folder and the ``plugyard run`` process serving it (started again after a
    kill with :meth:`start`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "plugyard.toml"
        self.journal = folder / "journal.jsonl"
        self.config.write_text(
            f'[host]\nname = "chaos"\nruntime_dir = "{folder / "run"}"\n\n'
            f'[pod]\ndatabase = "sqlite:///{folder / "pod.db"}"\n\n'
            "[http]\nport = 0\n\n"
            "[plugins.journal]\n"
            'use = "chaos_plugins:Journal"\n'
            f'out = "{self.journal}"\n'
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")},
            "PYTHONPATH": str(HELPERS),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> None:
        """Start the host; returns once it advertises its sockets, HTTP and pod URLs."""
        facts = self.folder / "run" / "host.json"
        facts.unlink(missing_ok=True)
        with (self.folder / "host.log").open("ab") as log:
            self.process = subprocess.Popen(
                [PLUGYARD, "run", "-c", str(self.config)],
                env=self.env,
                cwd=self.folder,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

        def ready() -> dict[str, Any] | None:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                info: dict[str, Any] = json.loads(facts.read_text())
            except (OSError, ValueError):
                return None
            wanted = ("zmq", "http_url", "pod_url", "celery")
            return info if all(key in info for key in wanted) else None

        self.info = until("the host advertised its sockets", ready, 120)

    def log(self) -> str:
        path = self.folder / "host.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the host, as an out-of-memory killer or a power cut would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        """Stop the host as a user does (SIGINT); returns its exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)

    def client(self, timeout: float = 10.0) -> Any:
        from plugyard.adapters.zmq import HostClient

        return HostClient.from_facts(self.info["zmq"], timeout=timeout)

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        """One command over the ZMQ command socket, as ``plugyard call`` sends it."""
        client = self.client()
        try:
            reply: dict[str, Any] = client.call(command, **props)
        finally:
            client.close()
        return reply

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PLUGYARD, *args, "-c", str(self.config)],
            env=self.env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def journal_lines(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines() if line]

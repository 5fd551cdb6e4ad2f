"""What the demo needs before its host starts: the example plugins, a folder of its own, the
bucket service the monitoring plugins post to, and the configuration file."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "EXAMPLES",
    "ExamplesNotFound",
    "Layout",
    "Sink",
    "demo_config",
    "find_examples",
    "free_port",
    "importable",
    "write_toml",
]

EXAMPLES = {
    "lifecycle": "lifecycle-webserver",
    "zmq": "zmq-event-logger",
    "asyncio": "asyncio-plugins",
    "celery": "celery-fibonacci",
    "pod": "pod-dog-plugin",
}
"""The example folder each model's plugin comes from."""

ASYNCIO_PLUGINS = (
    "request_monitoring_plugin_example",
    "event_sending_plugin_example",
    "background_plugin_example",
)


class ExamplesNotFound(LookupError):
    """The example plugins are neither bundled nor in a source checkout."""


def _has_examples(folder: Path) -> bool:
    return all((folder / name / "src").is_dir() for name in EXAMPLES.values())


def find_examples(explicit: Path | None = None) -> Path:
    """The folder holding the example plugins.

    ``explicit`` (``--examples``) wins; then the copy a wheel carries; then ``examples/`` of
    the source checkout this package runs from; then ``./examples``.
    """
    if explicit is not None:
        if not _has_examples(explicit):
            missing = [n for n in EXAMPLES.values() if not (explicit / n / "src").is_dir()]
            raise ExamplesNotFound(
                f"--examples {explicit}: missing {', '.join(f'{m}/src' for m in missing)}"
            )
        return explicit.resolve()
    here = Path(__file__).resolve().parent
    candidates = [here / "examples", *(p / "examples" for p in here.parents), Path("examples")]
    for candidate in candidates:
        if _has_examples(candidate):
            return candidate.resolve()
    raise ExamplesNotFound(
        "the example plugins were not found (looked beside the package and in the source "
        "checkout); pass --examples PATH to plugyard's examples/ folder"
    )


def importable(examples: Path) -> list[Path]:
    """The ``src`` folders of the plugins named by ``use`` (``[host] python_path``)."""
    return [examples / EXAMPLES[model] / "src" for model in ("zmq", "celery", "pod", "lifecycle")]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Layout:
    """Where the demo keeps everything: one folder, printed at the start and in the summary."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "plugyard.toml"

    @property
    def runtime(self) -> Path:
        return self.folder / "run"

    @property
    def host_log(self) -> Path:
        return self.folder / "host.log"

    @property
    def event_log(self) -> Path:
        """The file the ZMQ logger subscriber writes."""
        return self.folder / "events.log"

    @property
    def summary(self) -> Path:
        return self.folder / "summary.json"


class Sink:
    """A bucket service on a free loopback port, standing in for the one the asyncio example
    plugins post to: it accepts bucket creation and objects, and keeps what it was sent."""

    def __init__(self) -> None:
        self.objects: dict[str, list[Any]] = {}
        self.buckets: set[str] = set()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status = sink._receive(path, query, raw)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints what matters."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/1/buckets"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="demo-bucket-sink", daemon=True
        )

    def _receive(self, path: str, query: str, raw: bytes) -> int:
        parts = path.strip("/").split("/")
        with self._lock:
            if parts == ["1", "buckets"]:
                bucket = query.partition("bucket=")[2].partition("&")[0]
                if not bucket:
                    return 400
                self.buckets.add(bucket)
                return 201
            if len(parts) == 4 and parts[:2] == ["1", "buckets"] and parts[3] == "objects":
                try:
                    body = json.loads(raw)
                except ValueError:
                    return 400
                self.objects.setdefault(parts[2], []).append(body)
                return 201
        return 404

    def received(self, bucket: str) -> list[Any]:
        """What was posted to ``bucket`` so far."""
        with self._lock:
            return list(self.objects.get(bucket, ()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def demo_config(layout: Layout, examples: Path, sink_url: str) -> dict[str, Any]:
    """The host configuration: the five adapters and the console, one example plugin (or
    three) per model, everything stored in the demo's folder."""
    folder = layout.folder
    asyncio_dir = examples / EXAMPLES["asyncio"] / "src" / "asyncio_plugins"
    return {
        "host": {
            "name": "plugyard-demo",
            "runtime_dir": str(layout.runtime),
            "log_level": "info",
            "autoload": False,
            "python_path": [str(folder) for folder in importable(examples)],
            "adapters": ["lifecycle", "zmq", "asyncio", "celery", "pod", "console"],
            "plugin_dirs": [str(asyncio_dir)],
            "active_plugins": list(ASYNCIO_PLUGINS),
        },
        "lifecycle": {
            "storage_dir": str(folder / "lifecycle"),
            "task_retries": 1,
            "task_retry_interval": 0.5,
        },
        "asyncio": {
            "events": {
                "monitoring_event": {"type": "plugyard.sdk.events:MonitoringPayload"},
                "sending_event": {"type": "plugyard.sdk.events:SendingPayload"},
            },
        },
        "http": {"port": 0},
        "celery": {"state_dir": str(folder / "celery")},
        "pod": {"database": f"sqlite:///{folder / 'pod.sqlite3'}"},
        "plugins": {
            "logger": {"use": "zmq_event_logger:Logger", "filename": str(layout.event_log)},
            "gwexample": {"use": "gwexample:GWExamplePlugin"},
            "request_monitoring_plugin_example": {"url": sink_url, "bucket": "monitoring"},
            "event_sending_plugin_example": {"url": sink_url, "bucket": "events"},
            "background_plugin_example": {"interval": 5.0},
        },
    }


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value)


def _table(lines: list[str], name: str, table: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    if scalars or not tables:
        lines.append(f"[{name}]")
        lines += [f"{_key(key)} = {_value(value)}" for key, value in scalars.items()]
        lines.append("")
    for key, sub in tables.items():
        _table(lines, f"{name}.{_key(key)}", sub)


def write_toml(path: Path, config: Mapping[str, Any]) -> None:
    """Write ``config`` (tables of strings, numbers, booleans and lists) as TOML."""
    lines = ["# Written by `plugyard demo`: the configuration of the demo's host.", ""]
    for name, table in config.items():
        _table(lines, _key(name), table)
    path.write_text("\n".join(lines), encoding="utf-8")

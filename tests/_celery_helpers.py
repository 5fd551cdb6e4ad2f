"""Helpers for the Celery end-to-end tests: a real install of the example plugin, per-run
broker namespaces, and ``plugyard worker`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
SAMPLE_PLUGINS = ROOT / "adapters" / "celery" / "tests" / "plugins"


def install_example(site: Path) -> Path:
    """examples/celery-fibonacci installed (with its entry point) into a folder of its own."""
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(ROOT / "examples" / "celery-fibonacci"),
        ],
        check=True,
        timeout=120,
    )
    return site


@dataclass
class Setup:
    """One broker setup: a config file and the environment for every process of a test."""

    name: str
    config: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 60, check: bool = True) -> Any:
        """Run ``plugyard ARGS --config ...``."""
        cmd = [PLUGYARD, *args]
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=check
        )

    def tasks(self, *args: str, timeout: float = 60, check: bool = True) -> Any:
        """``plugyard tasks SUBCOMMAND --config FILE ARGS``."""
        sub, *rest = args
        return self.run(
            "tasks", sub, "--config", str(self.config), *rest, timeout=timeout, check=check
        )

    def start_worker(
        self, log: Path, *extra: str, spec: str | None = None
    ) -> subprocess.Popen[bytes]:
        """``plugyard worker -l info`` in its own session; returns once it is ready. With
        ``spec``, a worker whose plugyard speaks that hook spec version."""
        out = log.open("wb")
        command = [PLUGYARD] if spec is None else [sys.executable, str(spec_wrapper(log, spec))]
        proc = subprocess.Popen(
            [
                *command,
                "worker",
                "--config",
                str(self.config),
                "-l",
                "info",
                "--without-mingle",
                "--without-gossip",
                *extra,
            ],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{log.read_text()}")
            time.sleep(0.1)
        return proc

    def stop_worker(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop one worker this setup started (SIGTERM, then SIGKILL after 20 s)."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        self.workers.remove(proc)

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:  # a warm shutdown waits for running tasks: a test's leftovers need not finish
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.workers.clear()


def spec_wrapper(near: Path, spec: str) -> Path:
    """A script next to ``near`` that runs ``plugyard`` with its hook spec version (what
    the SDK speaks and what the worker announces) replaced by ``spec``."""
    script = near.with_name(f"plugyard-spec-{spec}.py")
    script.write_text(
        "import runpy, sys\n"
        "import plugyard.sdk\n"
        "import plugyard.sdk._versions\n"
        f"plugyard.sdk._versions.SPEC_VERSION = plugyard.sdk.SPEC_VERSION = {spec!r}\n"
        f"sys.argv[0] = {PLUGYARD!r}\n"
        f"runpy.run_path({PLUGYARD!r}, run_name='__main__')\n",
        encoding="utf-8",
    )
    return script


def _redis_db() -> int:
    return 1 + os.getpid() % 14


def _rabbit_vhost() -> str | None:
    vhost = f"plugyard-test-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "add_vhost", vhost], check=True, timeout=30, capture_output=True
        )
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            timeout=30,
            capture_output=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return vhost


def _with_prefix(options: str | None, prefix: str) -> str:
    """A TOML inline table of transport options (``options``, one too) with
    ``global_keyprefix`` set: kombu and Celery's Redis backend then prefix every key."""
    import json
    import tomllib

    table = tomllib.loads(f"x = {options}")["x"] if options else {}
    table["global_keyprefix"] = prefix
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in table.items()) + " }"


def _delete_prefixed(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def make_setup(name: str, tmp: Path, site: Path, **celery: Any) -> Iterator[Setup]:
    """A config for broker ``name`` (embedded, redis, rabbitmq) in its own namespace."""
    from plugyard.sdk.testing import require_service

    cleanup: list[Any] = []
    lines = ["[host]", f'runtime_dir = "{tmp / "state"}"', "", "[celery]", "cancel_timeout = 5"]
    if name == "redis":
        require_service("redis")
        import redis

        db = _redis_db()
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        # Other runs may share the database: every key of this run carries its own prefix
        # (broker queues and bookkeeping, results, jobs), and only those keys are removed.
        prefix = f"plugyard-test-{uuid.uuid4().hex[:8]}:"
        cleanup.append(lambda: _delete_prefixed(client, prefix))
        url = f"redis://127.0.0.1:6379/{db}"
        lines += [f'broker_url = "{url}"', f'result_backend = "{url}"']
        lines.append(f'key_prefix = "{prefix}jobs:"')
        celery["broker_transport_options"] = _with_prefix(
            celery.get("broker_transport_options"), prefix
        )
        celery["result_backend_transport_options"] = _with_prefix(
            celery.get("result_backend_transport_options"), prefix
        )
    elif name == "rabbitmq":
        require_service("rabbitmq")
        vhost = _rabbit_vhost()
        if vhost is None:
            lines += [
                'broker_url = "amqp://guest:guest@127.0.0.1:5672//"',
                f'task_default_queue = "plugyard-test-{uuid.uuid4().hex[:8]}"',
            ]
        else:
            lines.append(f'broker_url = "amqp://guest:guest@127.0.0.1:5672/{vhost}"')
            cleanup.append(
                lambda: subprocess.run(
                    ["rabbitmqctl", "-q", "delete_vhost", vhost], timeout=30, capture_output=True
                )
            )
    for key, value in celery.items():
        lines.append(f"{key} = {value}")
    lines += ["", "[plugins.sample]", 'use = "celery_sample:SamplePlugin"', "time_limit = 120"]
    config = tmp / "plugyard.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(SAMPLE_PLUGINS)]),
        "PLUGYARD_CONFIG": str(config),
    }
    setup = Setup(name, config, env)
    try:
        yield setup
    finally:
        setup.stop_workers()
        for step in cleanup:
            step()

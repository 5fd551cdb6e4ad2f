"""Benchmark: lifecycle install throughput on Celery agents (``[lifecycle] executor =
"celery"``) with 1, 2 and 4 worker processes, beside the same install on the local executor
(threads of the engine's own process).

The blueprint has independent nodes whose create, configure and start each burn a fixed
slice of CPU, so that throughput shows where added workers stop helping: the engine, the
broker (RabbitMQ), the result backend (Redis), the store (PostgreSQL) and the workers share
this machine's cores. Needs those three services; without them the figures are skipped.

    uv run python benchmarks/bench_agents.py            # 48 instances x 3 operations
    uv run python benchmarks/bench_agents.py --quick    # a smoke run: 6 instances
    uv run python benchmarks/bench_agents.py --json     # one JSON object, exit status 0
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _figures import figure, skipped

WORKER_COUNTS = (1, 2, 4)
BURN_MS = 20.0
"""CPU milliseconds each operation spends."""
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
PG = "host=127.0.0.1 port=5432 dbname=test"

OPS = f"""
import time


def burn(**kwargs):
    end = time.thread_time() + {BURN_MS / 1000}
    while time.thread_time() < end:
        pass
"""

BLUEPRINT = """
plugins:
  bench: {{package: bench_agent_ops, source: .}}
node_types:
  bench.Node:
    derived_from: plugyard.nodes.Root
    interfaces:
      lifecycle:
        create: bench.burn
        configure: bench.burn
        start: bench.burn
node_templates:
  node:
    type: bench.Node
    properties: {{agent_queue: {queue}}}
    instances: {{deploy: {count}}}
"""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _start_workers(config: Path, queue: str, count: int, log: Path) -> subprocess.Popen[bytes]:
    """One ``plugyard worker`` with ``count`` pool processes; returns once it is ready."""
    out = log.open("wb")
    proc = subprocess.Popen(
        [
            PLUGYARD,
            "worker",
            "--config",
            str(config),
            "-Q",
            queue,
            "-c",
            str(count),
            "-P",
            "prefork",
            "-l",
            "info",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"bench-{count}-{secrets.token_hex(2)}@%h",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _install(
    folder: Path, name: str, url: str | None, executor: str, count: int, blueprint: str
) -> float:
    """Seconds of one install of a fresh deployment of ``blueprint``."""
    from plugyard.adapters.lifecycle.local import init_env

    env = init_env(folder / blueprint, name=name, storage=url)
    try:
        started = time.perf_counter()
        result = env.execute(
            "install", task_retries=0, task_thread_pool_size=max(8, count), executor=executor
        )
        elapsed = time.perf_counter() - started
        assert result["succeeded"] == 3 * count, result
    finally:
        env.close()
    return elapsed


def run(count: int) -> dict[str, Any]:
    """Install ``count`` instances locally, then on 1, 2 and 4 worker processes."""
    import psycopg

    from plugyard.adapters.celery import connect

    token = secrets.token_hex(4)
    queue = f"bench-agents-{token}"
    schema = f"bench_agents_{token}"
    with tempfile.TemporaryDirectory(prefix="bench-agents-") as tmp:
        folder = Path(tmp)
        (folder / "bench_agent_ops").mkdir()
        (folder / "bench_agent_ops" / "__init__.py").write_text(OPS)
        (folder / "blueprint.yaml").write_text(BLUEPRINT.format(queue=queue, count=count))
        # A warm-up install per worker count: every pool process imports the plugin and
        # opens its storage before the timed install.
        warm = 2 * max(WORKER_COUNTS) if count > 8 else 2
        (folder / "warm.yaml").write_text(BLUEPRINT.format(queue=queue, count=warm))
        config = folder / "plugyard.toml"
        config.write_text(
            f'[host]\nruntime_dir = "{folder / "state"}"\n\n'
            '[celery]\nbroker_url = "amqp://guest:guest@127.0.0.1:5672//"\n'
            'result_backend = "redis://127.0.0.1:6379/15"\nresult_expires = 600\n'
            "worker_prefetch_multiplier = 1\n\n"
            '[lifecycle]\nexecutor = "celery"\n'
        )
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"postgresql://127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        app = connect(config)
        try:
            local_s = _install(folder, "local", url, "local", count, "blueprint.yaml")
            agents: dict[int, float] = {}
            for workers in WORKER_COUNTS:
                proc = _start_workers(config, queue, workers, folder / f"worker-{workers}.log")
                try:
                    _install(folder, f"warm{workers}", url, "celery", warm, "warm.yaml")
                    agents[workers] = _install(
                        folder, f"agents{workers}", url, "celery", count, "blueprint.yaml"
                    )
                finally:
                    _stop(proc)
        finally:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    ops = 3 * count
    return {
        "operations": ops,
        "burn_ms": BURN_MS,
        "local_ops_per_s": round(ops / local_s, 1),
        "agents_ops_per_s": {str(k): round(ops / v, 1) for k, v in agents.items()},
        "cores": os.cpu_count(),
    }


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Throughput per worker count, beside the local executor's, for ``run_all.py``."""
    local = result["local_ops_per_s"]
    return [
        figure(
            f"install_{workers}_workers",
            f"install throughput, {workers} worker process{'es' if workers != '1' else ''}",
            unit="ops/s",
            plugyard=value,
            raw=local,
            raw_label=f"local executor (threads), {result['burn_ms']:g} ms CPU per op",
        )
        for workers, value in result["agents_ops_per_s"].items()
    ]


def main(argv: list[str] | None = None) -> int:
    """Run and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 instances: a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    count = 6 if args.quick else 48
    result: dict[str, Any] = {"bench": "bench_agents", "mode": "quick" if args.quick else "full"}
    services = (("postgresql", 5432), ("rabbitmq", 5672), ("redis", 6379))
    missing = [name for name, port in services if not _answers(port)]
    if missing:
        reason = f"needs {', '.join(missing)} on 127.0.0.1"
        result["figures"] = [
            skipped(f"install_{n}_workers", f"install throughput, {n} workers", reason)
            for n in WORKER_COUNTS
        ]
    else:
        result.update(run(count))
        result["figures"] = figures(result)
    print(json.dumps(result))
    if not args.json:
        for found in result["figures"]:
            if "skipped" in found:
                print(f"{found['label']}: skipped ({found['skipped']})")
            else:
                print(f"{found['label']}: {found['plugyard']} ops/s (x{found['ratio']} local)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

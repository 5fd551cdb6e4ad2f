"""Round-trip latency and throughput of a trivial task: plugyard against plain Celery.

Both sides use the same broker and result backend, a worker process with the same pool
(``solo``) and the same task (``add``). plugyard's side is ``plugyard worker`` with the task in
a task plugin and a client configured by ``connect()``, so it pays for what plugyard adds: the
job-status signals, the status writer and the job store, and the task base class. Plain
Celery's side is ``celery worker`` on an app that has none of that.

Setups: ``embedded`` (plugyard's SQLite broker, backend and job store) and ``redis`` (broker,
backend and job store on the local Redis, a database of its own). Target: plugyard within 10%
of plain Celery on both.

    python benchmarks/bench_celery.py            # 2,000 tasks per throughput round, 5 rounds
    python benchmarks/bench_celery.py --quick    # a few seconds: a smoke run
    python benchmarks/bench_celery.py --anchor   # also run ../shared anchor celery_roundtrip
    python benchmarks/bench_celery.py --json     # one JSON object with every setup

Prints one JSON line per setup and a summary with ratios (plugyard / plain). Without a Redis
server on 127.0.0.1:6379 the ``redis`` setup is skipped and says so, unless
``PLUGYARD_REQUIRE_SERVICES=1`` (as in CI): then the run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _figures import Target, figure, skipped

LATENCY_TARGET = Target("<=", 1.10)
"""plugyard's round-trip latency is within 10% of plain Celery's."""
THROUGHPUT_TARGET = Target(">=", 0.90)
"""plugyard's throughput is within 10% of plain Celery's."""

HERE = Path(__file__).resolve().parent
PLUGYARD = str(Path(sys.executable).parent / "plugyard")
ANCHOR = (
    Path(os.environ.get("PLUGYARD_ANCHORS", str(HERE.parents[1] / "shared" / "bench" / "anchors")))
    / "celery_roundtrip.py"
)

# -- the task, as a plugyard task plugin (imported by `plugyard worker`) ---------------------

try:
    from plugyard.sdk.tasks import TaskPlugin
    from plugyard.sdk.tasks import app as _plugyard_app

    @_plugyard_app.task(name="bench.add")
    def add(x: int, y: int) -> int:
        return x + y

    class BenchPlugin(TaskPlugin):
        """Registers this module's ``add``."""

        def task_imports(self) -> list[str]:
            return ["bench_celery"]

except ImportError:  # pragma: no cover - plugyard not installed
    pass


# -- plain Celery: `celery -A bench_celery:plain_app worker` ---------------------------------


def _plain_app() -> Any:
    from celery import Celery

    from plugyard.adapters.celery import _results, _transport

    _transport.register()
    _results.register()
    app = Celery("bench_plain", set_as_current=False)
    broker = os.environ.get("BENCH_BROKER", "memory://")
    app.conf.update(
        broker_url=broker,
        result_backend=os.environ.get("BENCH_BACKEND", "cache+memory://"),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    if broker.startswith("plugyard+sqlite"):
        app.conf.broker_transport_options = {"polling_interval": 0.002}

    @app.task(name="bench.add")
    def plain_add(x: int, y: int) -> int:
        return x + y

    app.bench_add = plain_add
    return app


plain_app = _plain_app() if os.environ.get("BENCH_BROKER") else None

WORKER_FLAGS = [
    "--pool",
    "solo",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
    "--loglevel",
    "WARNING",
]


def measure(send: Any, lat_calls: int, thr_tasks: int, rounds: int, **get: Any) -> dict[str, Any]:
    """Latency: one ``send(i).get()`` at a time; throughput: send all, then get each."""

    def latency_round(n: int) -> list[float]:
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            assert send(i).get(timeout=60, **get) == i + 1
            out.append(time.perf_counter() - t0)
        return out

    def throughput_round(n: int) -> float:
        t0 = time.perf_counter()
        results = [send(i) for i in range(n)]
        assert [r.get(timeout=300, **get) for r in results] == [i + 1 for i in range(n)]
        return n / (time.perf_counter() - t0)

    latency_round(max(5, lat_calls // 10))
    medians = [statistics.median(latency_round(lat_calls)) for _ in range(rounds)]
    throughput_round(max(10, thr_tasks // 10))
    rates = [throughput_round(thr_tasks) for _ in range(rounds)]
    return {
        "latency_ms": round(statistics.median(medians) * 1e3, 3),
        "latency_ms_min_max": [round(min(medians) * 1e3, 3), round(max(medians) * 1e3, 3)],
        "throughput_tasks_per_s": round(statistics.median(rates), 1),
        "throughput_min_max": [round(min(rates), 1), round(max(rates), 1)],
        "tasks_per_round": thr_tasks,
        "rounds": rounds,
    }


def _wait_for_worker(send: Any, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            assert send(1).get(timeout=5) == 2
            return
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("benchmark worker did not start") from None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_plain(broker: str, backend: str, sizes: tuple[int, int, int]) -> dict[str, Any]:
    env = {**os.environ, "BENCH_BROKER": broker, "BENCH_BACKEND": backend, "PYTHONPATH": str(HERE)}
    os.environ.update(BENCH_BROKER=broker, BENCH_BACKEND=backend)
    app = _plain_app()
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench_celery:plain_app", "worker", *WORKER_FLAGS],
        env=env,
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def send(i: int) -> Any:
            return app.bench_add.apply_async((i, 1))

        _wait_for_worker(send, proc)
        # A polling backend polls at the same interval as plugyard's results do.
        get = {"interval": 0.002} if backend.startswith("plugyard+") else {}
        return measure(send, *sizes, **get)
    finally:
        _stop(proc)


def bench_plugyard(
    state: Path, celery: dict[str, str], sizes: tuple[int, int, int]
) -> dict[str, Any]:
    from plugyard.adapters.celery import connect

    config = state / "plugyard.toml"
    lines = ["[host]", f'runtime_dir = "{state}"', "[celery]"]
    lines += [f'{key} = "{value}"' for key, value in celery.items()]
    lines += ["[plugins.bench]", 'use = "bench_celery:BenchPlugin"']
    config.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    proc = subprocess.Popen(
        [PLUGYARD, "worker", "--config", str(config), "-l", "warning", *WORKER_FLAGS[:-2]],
        env=env,
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app = connect(config)

        def send(i: int) -> Any:
            return app.send_task("bench.add", (i, 1))

        _wait_for_worker(send, proc)
        return measure(send, *sizes)
    finally:
        _stop(proc)


def _redis_url() -> str | None:
    try:
        import redis

        db = 1 + os.getpid() % 14
        client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=2)
        client.flushdb()
        return f"redis://127.0.0.1:6379/{db}"
    except Exception:
        return None


def figures(setups: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the targets, for ``run_all.py``."""
    found = []
    for setup, line in setups.items():
        latency, throughput = f"round-trip latency, {setup}", f"throughput, {setup}"
        if "skipped" in line:
            found.append(skipped(f"latency_{setup}", latency, line["skipped"], LATENCY_TARGET))
            found.append(
                skipped(f"throughput_{setup}", throughput, line["skipped"], THROUGHPUT_TARGET)
            )
            continue
        plain, ours = line["plain_celery"], line["plugyard"]
        found.append(
            figure(
                f"latency_{setup}",
                latency,
                unit="ms",
                plugyard=ours["latency_ms"],
                raw=plain["latency_ms"],
                raw_label="plain Celery",
                target=LATENCY_TARGET,
            )
        )
        found.append(
            figure(
                f"throughput_{setup}",
                throughput,
                unit="tasks/s",
                plugyard=ours["throughput_tasks_per_s"],
                raw=plain["throughput_tasks_per_s"],
                raw_label="plain Celery",
                target=THROUGHPUT_TARGET,
            )
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--anchor", action="store_true", help="also run the anchor script")
    parser.add_argument("--setups", default="embedded,redis")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with every setup only"
    )
    args = parser.parse_args()
    sizes = (20, 200, 1) if args.quick else (200, 2000, 5)
    summary: dict[str, Any] = {}
    setups: dict[str, dict[str, Any]] = {}

    def emit(line: dict[str, Any]) -> None:
        if not args.json:
            print(json.dumps(line))

    for setup in args.setups.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-celery-") as tmp:
            state = Path(tmp)
            if setup == "embedded":
                (state / "plain").mkdir()
                broker = f"plugyard+sqlite:///{state / 'plain' / 'broker.sqlite'}"
                backend = f"plugyard+sqlite:///{state / 'plain' / 'results.sqlite'}"
                plugyard_celery: dict[str, str] = {}
            else:
                url = _redis_url()
                if url is None:
                    reason = "no redis on 127.0.0.1:6379"
                    if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
                        sys.exit(f"bench_celery: {reason} (PLUGYARD_REQUIRE_SERVICES=1)")
                    setups[setup] = {"setup": setup, "skipped": reason}
                    emit(setups[setup])
                    continue
                broker = backend = url
                plugyard_celery = {"broker_url": url, "result_backend": url}
            plain = bench_plain(broker, backend, sizes)
            (state / "plugyard").mkdir()
            ours = bench_plugyard(state / "plugyard", plugyard_celery, sizes)
        ratios = {
            "latency": round(ours["latency_ms"] / plain["latency_ms"], 3),
            "throughput": round(
                ours["throughput_tasks_per_s"] / plain["throughput_tasks_per_s"], 3
            ),
        }
        line = {"setup": setup, "plain_celery": plain, "plugyard": ours, "ratio": ratios}
        setups[setup] = line
        emit(line)
        summary[setup] = ratios
    if args.anchor and ANCHOR.exists():
        out = subprocess.run(
            [sys.executable, str(ANCHOR)], capture_output=True, text=True, timeout=1800
        )
        anchor = json.loads(out.stdout.strip().splitlines()[-1])["cases"]
        summary["anchor_redis_solo"] = anchor.get("redis_solo")
        summary["anchor_memory_poll_1ms"] = anchor.get("memory_poll_1ms")
    target = (
        f"plugyard latency ratio <= {LATENCY_TARGET.limit:.2f}, "
        f"throughput ratio >= {THROUGHPUT_TARGET.limit:.2f}"
    )
    if args.json:
        result = {
            "bench": "bench_celery",
            "mode": "quick" if args.quick else "full",
            "setups": setups,
            "summary": summary,
            "target": target,
            "figures": figures(setups),
        }
        print(json.dumps(result))
    else:
        print(json.dumps({"summary": summary, "target": target}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Round-trip latency and throughput of a trivial task: plugyard against plain Celery.

Both sides use the same kind of broker and result backend, a worker process with the same pool
(``solo``) and flags, the same task (``add``), the same call to send it (``app.send_task``) and
the same way to collect results (``AsyncResult.get``). plugyard's side is ``plugyard worker``
with the task in a task plugin and a client configured by ``connect()``, so it pays for what
plugyard adds: the job-status signals, the status writer and the job store, and the task base
class. Plain Celery's side is ``celery worker`` on an app that has none of that.

Both workers run for the whole setup, each on a broker of its own, and the rounds alternate
(plain, plugyard, plugyard, plain ...): the worker whose turn it is not is paused (SIGSTOP), so
it takes no CPU, and a change in the machine's load hits both sides alike.

Setups: ``embedded`` (plugyard's SQLite broker, backend and job store) and ``redis`` (broker,
backend and job store on the local Redis, a database per side). Target: plugyard within 10%
of plain Celery on both.

    python benchmarks/bench_celery.py            # 2,000 tasks per throughput round, 7 rounds
    python benchmarks/bench_celery.py --quick    # a few seconds: a smoke run
    python benchmarks/bench_celery.py --anchor   # also run ../shared anchor celery_roundtrip
    python benchmarks/bench_celery.py --json     # one JSON object with every setup

Prints one JSON line per setup and a summary with ratios (plugyard / plain). Without a Redis
server on 127.0.0.1:6379 the ``redis`` setup is skipped and says so, unless
``PLUGYARD_REQUIRE_SERVICES=1`` (as in CI): then the run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
TASK = "bench.add"

# -- the task, as a plugyard task plugin (imported by `plugyard worker`) ---------------------

try:
    from plugyard.sdk.tasks import TaskPlugin
    from plugyard.sdk.tasks import app as _plugyard_app

    @_plugyard_app.task(name=TASK)
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

    @app.task(name=TASK)
    def plain_add(x: int, y: int) -> int:
        return x + y

    return app


plain_app = _plain_app() if os.environ.get("BENCH_BROKER") else None

WORKER_FLAGS = ["--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]


class Side:
    """One side of the comparison: a worker process and a client sending to it."""

    def __init__(
        self,
        name: str,
        proc: subprocess.Popen[bytes],
        app: Any,
        get: dict[str, Any],
        settle: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.proc = proc
        self.app = app
        self.get = get
        self.settle = settle
        self.latency: list[float] = []
        self.throughput: list[float] = []
        self.settled: list[float] = []
        self.cpu: dict[str, list[float]] = {"client": [], "worker": []}

    def send(self, i: int) -> Any:
        return self.app.send_task(TASK, (i, 1))

    def _signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def pause(self) -> None:
        """Stop the worker (and its children) until :meth:`resume`."""
        if hasattr(signal, "SIGSTOP"):
            self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        if hasattr(signal, "SIGCONT"):
            self._signal(signal.SIGCONT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert self.send(1).get(timeout=5, **self.get) == 2
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}: benchmark worker did not start") from None

    def latency_round(self, n: int) -> float:
        """The median of ``n`` round trips, one ``send(i).get()`` at a time, in seconds."""
        times = []
        with _collected_after():
            for i in range(n):
                t0 = time.perf_counter()
                assert self.send(i).get(timeout=60, **self.get) == i + 1
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def throughput_round(self, n: int) -> float:
        """Send ``n`` tasks, then collect each result; tasks per second."""
        with _collected_after():
            cpu0 = time.process_time(), _cpu_seconds(self.proc.pid)
            t0 = time.perf_counter()
            results = [self.send(i) for i in range(n)]
            assert [r.get(timeout=300, **self.get) for r in results] == [i + 1 for i in range(n)]
            rate = n / (time.perf_counter() - t0)
            self.cpu["client"].append((time.process_time() - cpu0[0]) / n)
            if cpu0[1] >= 0:
                self.cpu["worker"].append((_cpu_seconds(self.proc.pid) - cpu0[1]) / n)
        if self.settle is not None:
            t1 = time.perf_counter()
            self.settle(results[-1].id)
            self.settled.append(time.perf_counter() - t1)
        return rate

    def stop(self) -> None:
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            self.resume()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()

    def figures(self, lat_calls: int, thr_tasks: int) -> dict[str, Any]:
        out = {
            "latency_ms": round(statistics.median(self.latency) * 1e3, 3),
            "latency_ms_min_max": [
                round(min(self.latency) * 1e3, 3),
                round(max(self.latency) * 1e3, 3),
            ],
            "throughput_tasks_per_s": round(statistics.median(self.throughput), 1),
            "throughput_min_max": [round(min(self.throughput), 1), round(max(self.throughput), 1)],
            "latency_calls_per_round": lat_calls,
            "tasks_per_round": thr_tasks,
            "rounds": len(self.throughput),
        }
        for who, values in self.cpu.items():
            if values:
                out[f"{who}_cpu_us_per_task"] = round(statistics.median(values) * 1e6, 1)
        if self.settled:
            out["status_settled_ms"] = round(statistics.median(self.settled) * 1e3, 1)
        return out


@contextlib.contextmanager
def _collected_after() -> Iterator[None]:
    """Run a timed round with the garbage collector off, collecting before and after.

    Celery's ``AsyncResult`` objects are freed by the collector (they hold reference cycles),
    and freeing one unsubscribes from its result (a Redis command). Left to chance, that
    work for one side's results lands in whichever round runs when the collector does, often
    the other side's; here both sides do it between rounds, untimed."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` from /proc, or -1 where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return -1.0


def _popen(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_plain(broker: str, backend: str) -> Side:
    env = {**os.environ, "BENCH_BROKER": broker, "BENCH_BACKEND": backend, "PYTHONPATH": str(HERE)}
    os.environ.update(BENCH_BROKER=broker, BENCH_BACKEND=backend)
    app = _plain_app()
    celery = [sys.executable, "-m", "celery", "-A", "bench_celery:plain_app", "worker"]
    proc = _popen([*celery, "--loglevel", "WARNING", *WORKER_FLAGS], env)
    # plugyard's results poll a polling backend every `polling_interval` (2 ms); plain Celery
    # is given the same interval. A backend that pushes results (Redis) is not polled.
    get = {"interval": 0.002} if backend.startswith("plugyard+") else {}
    return Side("plain_celery", proc, app, get)


def start_plugyard(state: Path, celery: dict[str, str]) -> Side:
    from plugyard.adapters.celery import connect
    from plugyard.sdk.tasks import JobStatus

    config = state / "plugyard.toml"
    lines = ["[host]", f'runtime_dir = "{state}"', "[celery]"]
    lines += [f'{key} = "{value}"' for key, value in celery.items()]
    lines += ["[plugins.bench]", 'use = "bench_celery:BenchPlugin"']
    config.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    proc = _popen(
        [PLUGYARD, "worker", "--config", str(config), "-l", "warning", *WORKER_FLAGS], env
    )
    app = connect(config)

    def settle(task_id: str) -> None:
        """Wait (untimed) until the last task's SUCCESS is in the job store."""
        deadline = time.monotonic() + 30
        while app.plugyard_jobs.status(task_id) is not JobStatus.SUCCESS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"task {task_id}: no SUCCESS in the job store after 30 s")
            time.sleep(0.001)

    return Side("plugyard", proc, app, {}, settle)


def run_setup(plain: Side, ours: Side, sizes: tuple[int, int, int]) -> dict[str, Any]:
    lat_calls, thr_tasks, rounds = sizes
    sides = (plain, ours)
    for side in sides:
        side.pause()
    for side in sides:
        side.resume()
        side.wait_ready()
        side.latency_round(max(5, lat_calls // 10))
        side.throughput_round(max(10, thr_tasks // 10))
        side.settled.clear()
        side.pause()
    for r in range(rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            side.resume()
            side.latency.append(side.latency_round(lat_calls))
            side.throughput.append(side.throughput_round(thr_tasks))
            side.pause()
    pairs = zip(ours.throughput, plain.throughput, strict=True)
    lat_pairs = zip(ours.latency, plain.latency, strict=True)
    return {
        plain.name: plain.figures(lat_calls, thr_tasks),
        ours.name: ours.figures(lat_calls, thr_tasks),
        "ratio": {
            "latency": round(statistics.median(a / b for a, b in lat_pairs), 3),
            "throughput": round(statistics.median(a / b for a, b in pairs), 3),
        },
    }


def _second_plain(folder: Path, setup: str, urls: tuple[str, ...]) -> Side:
    """For ``--control``: another plain Celery side, on a broker of its own."""
    if setup == "embedded":
        broker = f"plugyard+sqlite:///{folder / 'broker.sqlite'}"
        backend = f"plugyard+sqlite:///{folder / 'results.sqlite'}"
    else:
        broker = backend = urls[1]
    side = start_plain(broker, backend)
    side.name = "plain_celery_2"
    return side


def _redis_urls() -> tuple[str, str] | None:
    """Two databases on the local Redis (emptied), one per side; ``None`` without Redis."""
    try:
        import redis

        urls = []
        for db in (1 + os.getpid() % 14, 1 + (os.getpid() + 7) % 14):
            client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=2)
            client.flushdb()
            urls.append(f"redis://127.0.0.1:6379/{db}")
        return urls[0], urls[1]
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
        plain = line["plain_celery"]
        ours = line.get("plugyard") or line["plain_celery_2"]
        found.append(
            figure(
                f"latency_{setup}",
                latency,
                unit="ms",
                plugyard=ours["latency_ms"],
                raw=plain["latency_ms"],
                raw_label="plain Celery",
                ratio=line["ratio"]["latency"],
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
                ratio=line["ratio"]["throughput"],
                target=THROUGHPUT_TARGET,
            )
        )
    return found


def _flush(urls: tuple[str, ...]) -> None:
    import redis

    for url in urls:
        redis.Redis.from_url(url, socket_timeout=2).flushdb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--anchor", action="store_true", help="also run the anchor script")
    parser.add_argument("--setups", default="embedded,redis")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object with every setup only"
    )
    parser.add_argument("--rounds", type=int, help="timed rounds per side (default 7, quick 1)")
    parser.add_argument(
        "--control",
        action="store_true",
        help="plain Celery against a second plain Celery: the ratios this machine gives for "
        "two identical sides (the noise floor)",
    )
    args = parser.parse_args()
    sizes = (20, 200, 1) if args.quick else (200, 2000, 7)
    if args.rounds:
        sizes = (sizes[0], sizes[1], args.rounds)
    summary: dict[str, Any] = {}
    setups: dict[str, dict[str, Any]] = {}

    def emit(line: dict[str, Any]) -> None:
        if not args.json:
            print(json.dumps(line))

    for setup in args.setups.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-celery-") as tmp:
            state = Path(tmp)
            (state / "plain").mkdir()
            (state / "plugyard").mkdir()
            urls: tuple[str, ...] = ()
            if setup == "embedded":
                broker = f"plugyard+sqlite:///{state / 'plain' / 'broker.sqlite'}"
                backend = f"plugyard+sqlite:///{state / 'plain' / 'results.sqlite'}"
                plugyard_celery: dict[str, str] = {}
            else:
                found = _redis_urls()
                if found is None:
                    reason = "no redis on 127.0.0.1:6379"
                    if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
                        sys.exit(f"bench_celery: {reason} (PLUGYARD_REQUIRE_SERVICES=1)")
                    setups[setup] = {"setup": setup, "skipped": reason}
                    emit(setups[setup])
                    continue
                urls = found
                broker = backend = urls[0]
                plugyard_celery = {"broker_url": urls[1], "result_backend": urls[1]}
            plain = start_plain(broker, backend)
            try:
                if args.control:
                    ours = _second_plain(state / "plugyard", setup, urls)
                else:
                    ours = start_plugyard(state / "plugyard", plugyard_celery)
                try:
                    line = {"setup": setup, **run_setup(plain, ours, sizes)}
                finally:
                    ours.stop()
            finally:
                plain.stop()
                if urls:
                    _flush(urls)
        setups[setup] = line
        emit(line)
        summary[setup] = line["ratio"]
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
    control = {"control": "plain Celery against plain Celery"} if args.control else {}
    if args.json:
        result = {
            **control,
            "bench": "bench_celery",
            "mode": "quick" if args.quick else "full",
            "setups": setups,
            "summary": summary,
            "target": target,
            "figures": figures(setups),
        }
        print(json.dumps(result))
    else:
        print(json.dumps({"summary": summary, "target": target, **control}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pod benchmark: item writes through PodClient against raw sqlite3, and launch overhead.

Side by side in one run:
* raw sqlite3: one transaction, ``executemany``, WAL, ``json.dumps`` in the timed loop (the
  ``one_txn_executemany`` case of the sqlite_items anchor, same table shape and rows, minus
  the list-valued ``tags`` property a pod schema does not store);
* PodClient direct (in process) and HTTP (uvicorn on loopback), single creates and bulk;
* launch-to-done of a trivial plugin through the process launcher, against
  ``python -c "import plugyard.sdk.pod"``.

Targets: direct bulk >= 50 % of raw sqlite3; launch <= 1.5x the bare import.
``--quick`` runs a seconds-long smoke version; ``--json`` prints one JSON object only.

    uv run python benchmarks/bench_pod.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _figures import Target, figure

from plugyard.adapters.pod import PodService

BULK_TARGET = Target(">=", 0.5)
"""PodClient bulk writes in process reach at least half of raw sqlite3's rate."""
LAUNCH_TARGET = Target("<=", 1.5)
"""Launch-to-done of a trivial plugin costs at most 1.5 bare imports of the SDK."""

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "adapters" / "pod" / "tests"
N_TYPES = 10


def rows(n: int, prefix: str = "item") -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (
            f"{prefix}-{i:06d}",
            f"type{i % N_TYPES}",
            {"name": f"item number {i}", "size": i * 7, "ok": i % 2 == 0, "score": i / 3.0},
        )
        for i in range(n)
    ]


def raw_sqlite(folder: Path, data: list[tuple[str, str, dict[str, Any]]]) -> float:
    con = sqlite3.connect(folder / "raw.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(
        "CREATE TABLE items (id TEXT PRIMARY KEY, type TEXT NOT NULL, properties TEXT NOT NULL);"
        "CREATE INDEX items_type ON items(type);"
    )
    dumps = json.dumps
    start = time.perf_counter()
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO items (id, type, properties) VALUES (?, ?, ?)",
        ((i, t, dumps(p)) for i, t, p in data),
    )
    con.execute("COMMIT")
    elapsed = time.perf_counter() - start
    con.close()
    return len(data) / elapsed


def make_pod(folder: Path, name: str) -> Any:
    from plugyard.adapters.pod import Pod, Store

    store = Store(f"sqlite:///{folder / name}")
    store.create()
    pod = Pod(store)
    schema = {
        f"type{t}": {
            "properties": {"name": "str", "size": "int", "ok": "bool", "score": "float"},
            "edges": {},
        }
        for t in range(N_TYPES)
    }
    pod.add_schema(pod.scope_for(pod.owner_token), schema)
    return pod


def as_items(data: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    from plugyard.sdk.pod import Item

    return [Item.from_dict({"id": i, "type": t, **p}) for i, t, p in data]


def fresh(items: list[Any]) -> list[Any]:
    for item in items:
        item.__dict__["_stored"] = False
    return items


def client_writes(client: Any, items: list[Any], bulk: bool) -> float:
    start = time.perf_counter()
    if bulk:
        client.bulk(create=items)
    else:
        for item in items:
            client.create(item)
    return len(items) / (time.perf_counter() - start)


class _Server:
    """The pod API on uvicorn in a background thread."""

    def __init__(self, pod: Any) -> None:
        import uvicorn
        from starlette.applications import Starlette

        from plugyard.adapters.pod._http import pod_routes

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/pod/v1"
        app = Starlette(routes=pod_routes(lambda: pod, lambda: None))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def writes(n: int, n_single: int, rounds: int) -> dict[str, float]:
    """Median rate per case over ``rounds``, each case on a fresh database every round."""
    from plugyard.adapters.pod import DirectTransport
    from plugyard.sdk.pod import PodClient

    data = rows(n)
    samples: dict[str, list[float]] = {}

    def add(case: str, rate: float) -> None:
        samples.setdefault(case, []).append(rate)

    for round_ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-pod-") as tmp:
            folder = Path(tmp)
            add("raw_sqlite3_executemany", raw_sqlite(folder, data))
            pod = make_pod(folder, "direct.db")
            direct = PodClient(transport=DirectTransport(pod))
            add("direct_bulk", client_writes(direct, fresh(as_items(data)), bulk=True))
            singles = fresh(as_items(rows(n_single, "single")))
            add("direct_single", client_writes(direct, singles, bulk=False))
            pod.store.close()
            if round_:
                continue  # HTTP once: it is far from the target either way
            pod = make_pod(folder, "http.db")
            with _Server(pod) as url:
                http = PodClient(url, token=pod.owner_token)
                add("http_bulk", client_writes(http, fresh(as_items(data)), bulk=True))
                singles = fresh(as_items(rows(n_single, "single")))
                add("http_single", client_writes(http, singles, bulk=False))
                http.close()
            pod.store.close()
    return {case: statistics.median(rates) for case, rates in samples.items()}


def bare_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import plugyard.sdk.pod"], check=True)
    return time.perf_counter() - start


def launches(repeats: int) -> tuple[float, float]:
    """Median launch-to-done and median bare import, measured alternately (drift cancels)."""
    from plugyard.adapters.pod import adapter
    from plugyard.host.testing import run_host

    os.environ["PYTHONPATH"] = str(FIXTURES)

    async def go() -> tuple[float, float]:
        with tempfile.TemporaryDirectory(prefix="bench-pod-launch-") as tmp:
            config = {
                "host": {"runtime_dir": f"{tmp}/run", "name": "bench"},
                "pod": {"database": f"sqlite:///{tmp}/pod.db"},
            }
            async with run_host(adapters={"pod": adapter}, config=config) as host:
                await PodService.of(host).url()
                fields = {"plugin_module": "pod_fixtures", "plugin_name": "Quick"}
                launch_times, import_times = [], []
                for index in range(repeats + 1):
                    start = time.perf_counter()
                    run = await PodService.of(host).launch(dict(fields), "process")
                    final = await PodService.of(host).wait(run["id"], 30)
                    assert final["status"] == "done", final
                    elapsed = time.perf_counter() - start
                    imported = await asyncio.to_thread(bare_import)
                    if index:
                        launch_times.append(elapsed)
                        import_times.append(imported)
                return statistics.median(launch_times), statistics.median(import_times)

    return asyncio.run(go())


WRITE_LABELS = {
    "direct_bulk": "PodClient in process, bulk",
    "direct_single": "PodClient in process, single creates",
    "http_bulk": "PodClient over HTTP, bulk",
    "http_single": "PodClient over HTTP, single creates",
}


def figures(rates: dict[str, float], launching: float, importing: float) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the targets, for ``run_all.py``."""
    raw = rates["raw_sqlite3_executemany"]
    found = [
        figure(
            f"{case}_vs_raw_sqlite3",
            label,
            unit="items/s",
            plugyard=round(rates[case]),
            raw=round(raw),
            raw_label="raw sqlite3, one transaction",
            ratio=rates[case] / raw,
            target=BULK_TARGET if case == "direct_bulk" else None,
        )
        for case, label in WRITE_LABELS.items()
    ]
    found.append(
        figure(
            "launch_vs_import",
            "launch-to-done of a trivial plugin (process launcher)",
            unit="ms",
            plugyard=round(launching * 1000, 1),
            raw=round(importing * 1000, 1),
            raw_label="`python -c 'import plugyard.sdk.pod'`",
            ratio=launching / importing,
            target=LAUNCH_TARGET,
        )
    )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()
    n, n_single, repeats, rounds = (2_000, 300, 3, 1) if args.quick else (10_000, 2_000, 15, 5)
    rates = writes(n, n_single, rounds)
    launching, importing = launches(repeats)
    raw = rates["raw_sqlite3_executemany"]
    ratio = launching / importing
    bulk_share = rates["direct_bulk"] / raw
    summary = {
        "bench": "bench_pod",
        "mode": "quick" if args.quick else "full",
        "rates": rates,
        "launch_s": launching,
        "import_s": importing,
        "launch_ratio": ratio,
        "bulk_share": bulk_share,
        "figures": figures(rates, launching, importing),
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"item writes/s ({n} items, single creates {n_single}):")
    for case, rate in rates.items():
        print(f"  {case:26s} {rate:12,.0f}  {rate / raw:6.1%} of raw sqlite3")
    print(f"launch-to-done (process launcher)  {launching * 1000:7.1f} ms")
    print(f"python -c 'import plugyard.sdk.pod' {importing * 1000:7.1f} ms")
    print(f"launch / import ratio               {ratio:7.2f}x (target <= {LAUNCH_TARGET.limit:g}x)")
    print(
        f"direct bulk / raw sqlite3           {bulk_share:7.1%} (target >= {BULK_TARGET.limit:.0%})"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

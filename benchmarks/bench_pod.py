"""Pod benchmark: item writes through PodClient against raw sqlite3 and raw psycopg.

Side by side in one run, each pair on fresh databases, at several batch sizes:
* raw sqlite3: one transaction, ``executemany``, WAL, ``json.dumps`` in the timed loop (the
  ``one_txn_executemany`` case of the sqlite_items anchor, same table shape and rows, minus
  the list-valued ``tags`` property a pod schema does not store);
* PodClient direct (in process) and over HTTP (the pod API on uvicorn in a server process
  of its own, as a plugin process reaches its host), bulk at each size, and single creates;
* the same bulk writes on PostgreSQL (a schema of this run's own in database ``test``),
  beside raw psycopg ``executemany`` and ``COPY`` in one transaction;
* launch-to-done of a trivial plugin through the process launcher, against
  ``python -c "import plugyard.sdk.pod"``.

Targets: bulk in process >= 0.7x raw sqlite3, over HTTP >= 0.4x; single creates over HTTP
above 3,000/s; bulk on PostgreSQL >= 0.7x raw ``executemany``; launch <= 1.5x the bare
import. Each ratio is the median of per-round ratios (both sides measured back to back).
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _figures import Target, curve, figure, series, skipped

from plugyard.adapters.pod import PodService

BULK_TARGET = Target(">=", 0.7)
"""PodClient bulk writes in process reach at least 0.7x raw sqlite3's rate."""
HTTP_BULK_TARGET = Target(">=", 0.4)
"""PodClient bulk writes over HTTP reach at least 0.4x raw sqlite3's rate."""
HTTP_SINGLE_TARGET = Target(">", 3000.0, on="plugyard")
"""Single creates over HTTP (keep-alive, one request per item) above 3,000 items/s."""
PG_BULK_TARGET = Target(">=", 0.7)
"""PodClient bulk writes on PostgreSQL reach at least 0.7x raw psycopg ``executemany``."""
LAUNCH_TARGET = Target("<=", 1.5)
"""Launch-to-done of a trivial plugin costs at most 1.5 bare imports of the SDK."""

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "adapters" / "pod" / "tests"
N_TYPES = 10
PG_URL = os.environ.get("PLUGYARD_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def rows(n: int, prefix: str = "item") -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (
            f"{prefix}-{i:06d}",
            f"type{i % N_TYPES}",
            {"name": f"item number {i}", "size": i * 7, "ok": i % 2 == 0, "score": i / 3.0},
        )
        for i in range(n)
    ]


def raw_sqlite(
    folder: Path, data: list[tuple[str, str, dict[str, Any]]], name: str = "raw.db"
) -> float:
    con = sqlite3.connect(folder / name, isolation_level=None)
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


def make_pod(
    folder: Path | None, name: str, *, url: str | None = None, schema: str | None = None
) -> Any:
    from plugyard.adapters.pod import Pod, Store

    store = Store(url or f"sqlite:///{folder / name}", schema=schema)  # type: ignore[operator]
    store.create()
    pod = Pod(store)
    types = {
        f"type{t}": {
            "properties": {"name": "str", "size": "int", "ok": "bool", "score": "float"},
            "edges": {},
        }
        for t in range(N_TYPES)
    }
    pod.add_schema(pod.scope_for(pod.owner_token), types)
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


def serve(database: str) -> None:
    """The pod API on uvicorn in this process until stdin closes (``--serve``)."""
    import uvicorn
    from starlette.applications import Starlette

    from plugyard.adapters.pod._http import pod_routes

    pod = make_pod(None, "", url=database)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    app = Starlette(routes=pod_routes(lambda: pod, lambda: None))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/pod/v1"

    def announce_then_wait() -> None:
        while not server.started:
            time.sleep(0.005)
        print(json.dumps({"url": url, "token": pod.owner_token}), flush=True)
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=announce_then_wait, daemon=True).start()
    asyncio.run(server.serve(sockets=[sock]))


@contextmanager
def server_process(database: str) -> Iterator[tuple[str, str]]:
    """A pod API server in a process of its own; ``(url, owner token)``."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", database],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the pod server exited with status {proc.wait()}")
        answer = json.loads(line)
        yield answer["url"], answer["token"]
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pg_available() -> str | None:
    """None if PostgreSQL answers at ``PG_URL``, else why not."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:
        return f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__})"
    return None


def raw_psycopg(data: list[tuple[str, str, dict[str, Any]]], copy: bool) -> float:
    """Raw psycopg: one transaction of ``executemany`` (or ``COPY``) into a schema of its own."""
    import psycopg

    schema = f"bench_raw_{uuid.uuid4().hex[:12]}"
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(
                f"CREATE TABLE {schema}.items (id TEXT PRIMARY KEY, type TEXT NOT NULL, "
                f"properties TEXT NOT NULL); CREATE INDEX ON {schema}.items(type)"
            )
            dumps = json.dumps
            start = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                if copy:
                    with cur.copy(f"COPY {schema}.items (id, type, properties) FROM STDIN") as out:
                        for i, t, p in data:
                            out.write_row((i, t, dumps(p)))
                else:
                    cur.executemany(
                        f"INSERT INTO {schema}.items (id, type, properties) VALUES (%s, %s, %s)",
                        [(i, t, dumps(p)) for i, t, p in data],
                    )
            elapsed = time.perf_counter() - start
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return len(data) / elapsed


def pg_pod_bulk(data: list[tuple[str, str, dict[str, Any]]]) -> float:
    from plugyard.adapters.pod import DirectTransport
    from plugyard.sdk.pod import PodClient

    pod = make_pod(None, "", url=PG_URL, schema=f"bench_pod_{uuid.uuid4().hex[:12]}")
    try:
        client = PodClient(transport=DirectTransport(pod))
        return client_writes(client, fresh(as_items(data)), bulk=True)
    finally:
        pod.store.drop_schema()


Samples = dict[str, dict[int, list[float]]]


def _add(samples: Samples, case: str, size: int, value: float) -> None:
    samples.setdefault(case, {}).setdefault(size, []).append(value)


def writes(sizes: list[int], n_single: int, rounds: int, pg: bool) -> Samples:
    """Rates (and per-round ratios, ``*_ratio``) per case and size, each on fresh databases."""
    from plugyard.adapters.pod import DirectTransport
    from plugyard.sdk.pod import PodClient

    samples: Samples = {}
    for round_ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-pod-") as tmp:
            folder = Path(tmp)
            for size in sizes:
                data = rows(size)
                sub = folder / f"{round_}-{size}"
                sub.mkdir()
                raw = raw_sqlite(sub, data)
                pod = make_pod(sub, "direct.db")
                direct = PodClient(transport=DirectTransport(pod))
                rate = client_writes(direct, fresh(as_items(data)), bulk=True)
                pod.store.close()
                _add(samples, "raw_sqlite3", size, raw)
                _add(samples, "direct_bulk", size, rate)
                _add(samples, "direct_bulk_ratio", size, rate / raw)
                if pg:
                    raw_many = raw_psycopg(data, copy=False)
                    raw_copy = raw_psycopg(data, copy=True)
                    rate = pg_pod_bulk(data)
                    _add(samples, "raw_pg_executemany", size, raw_many)
                    _add(samples, "raw_pg_copy", size, raw_copy)
                    _add(samples, "pg_bulk", size, rate)
                    _add(samples, "pg_bulk_ratio", size, rate / raw_many)
                    _add(samples, "pg_bulk_copy_ratio", size, rate / raw_copy)
            with server_process(f"sqlite:///{folder / 'http.db'}") as (url, token):
                http = PodClient(url, token=token)
                for size in sizes:
                    data = rows(size, f"r{round_}s{size}")
                    raw = raw_sqlite(folder / f"{round_}-{size}", data, "raw-http.db")
                    rate = client_writes(http, fresh(as_items(data)), bulk=True)
                    _add(samples, "http_bulk", size, rate)
                    _add(samples, "http_bulk_ratio", size, rate / raw)
                singles = fresh(as_items(rows(n_single, f"single{round_}-")))
                _add(samples, "http_single", n_single, client_writes(http, singles, bulk=False))
                http.close()
            pod = make_pod(folder, "single.db")
            direct = PodClient(transport=DirectTransport(pod))
            singles = fresh(as_items(rows(n_single, "single")))
            _add(samples, "direct_single", n_single, client_writes(direct, singles, bulk=False))
            pod.store.close()
    return samples


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


def _median(values: dict[int, list[float]], size: int) -> float:
    return statistics.median(values[size])


def figures(
    samples: Samples, sizes: list[int], n_single: int, launching: float, importing: float
) -> list[dict[str, Any]]:
    """The figures at the largest size, beside their raw building blocks, for ``run_all.py``."""
    top = sizes[-1]
    raw = _median(samples["raw_sqlite3"], top)
    found = [
        figure(
            "direct_bulk_vs_raw_sqlite3",
            f"PodClient in process, bulk of {top:,}",
            unit="items/s",
            plugyard=round(_median(samples["direct_bulk"], top)),
            raw=round(raw),
            raw_label="raw sqlite3, one transaction",
            ratio=_median(samples["direct_bulk_ratio"], top),
            target=BULK_TARGET,
        ),
        figure(
            "http_bulk_vs_raw_sqlite3",
            f"PodClient over HTTP, bulk of {top:,}",
            unit="items/s",
            plugyard=round(_median(samples["http_bulk"], top)),
            raw=round(raw),
            raw_label="raw sqlite3, one transaction",
            ratio=_median(samples["http_bulk_ratio"], top),
            target=HTTP_BULK_TARGET,
        ),
        figure(
            "http_single_creates",
            "PodClient over HTTP, single creates (keep-alive)",
            unit="items/s",
            plugyard=round(_median(samples["http_single"], n_single)),
            target=HTTP_SINGLE_TARGET,
        ),
        figure(
            "direct_single_creates",
            "PodClient in process, single creates",
            unit="items/s",
            plugyard=round(_median(samples["direct_single"], n_single)),
        ),
    ]
    if "pg_bulk" in samples:
        pg = round(_median(samples["pg_bulk"], top))
        found += [
            figure(
                "pg_bulk_vs_raw_executemany",
                f"PodClient in process on PostgreSQL, bulk of {top:,}",
                unit="items/s",
                plugyard=pg,
                raw=round(_median(samples["raw_pg_executemany"], top)),
                raw_label="raw psycopg executemany, one transaction",
                ratio=_median(samples["pg_bulk_ratio"], top),
                target=PG_BULK_TARGET,
            ),
            figure(
                "pg_bulk_vs_raw_copy",
                f"PodClient in process on PostgreSQL, bulk of {top:,}",
                unit="items/s",
                plugyard=pg,
                raw=round(_median(samples["raw_pg_copy"], top)),
                raw_label="raw psycopg COPY, one transaction",
                ratio=_median(samples["pg_bulk_copy_ratio"], top),
            ),
        ]
    else:
        found.append(
            skipped(
                "pg_bulk_vs_raw_executemany",
                "PodClient in process on PostgreSQL, bulk",
                str(samples.get("pg_skipped", "no PostgreSQL")),
                PG_BULK_TARGET,
            )
        )
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


def curves(samples: Samples, sizes: list[int]) -> list[dict[str, Any]]:
    """Bulk rate against batch size, plugyard beside its raw anchors."""

    def line(case: str, label: str, raw: bool = False) -> dict[str, Any]:
        return series(label, [(size, _median(samples[case], size)) for size in sizes], raw=raw)

    found = [
        curve(
            "bulk_sqlite",
            "bulk writes on SQLite",
            x_label="items per batch",
            unit="items/s",
            lines=[
                line("direct_bulk", "PodClient in process"),
                line("http_bulk", "PodClient over HTTP"),
                line("raw_sqlite3", "raw sqlite3 executemany", raw=True),
            ],
        )
    ]
    if "pg_bulk" in samples:
        found.append(
            curve(
                "bulk_postgresql",
                "bulk writes on PostgreSQL",
                x_label="items per batch",
                unit="items/s",
                lines=[
                    line("pg_bulk", "PodClient in process"),
                    line("raw_pg_executemany", "raw psycopg executemany", raw=True),
                    line("raw_pg_copy", "raw psycopg COPY", raw=True),
                ],
            )
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--serve", metavar="DATABASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.quick:
        sizes, n_single, repeats, rounds = [100, 300, 1_000, 2_000], 300, 3, 1
    else:
        sizes, n_single, repeats, rounds = [100, 1_000, 10_000, 30_000], 2_000, 15, 5
    why_no_pg = pg_available()
    if why_no_pg and os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
        sys.exit(f"bench_pod: {why_no_pg} (PLUGYARD_REQUIRE_SERVICES=1)")
    samples = writes(sizes, n_single, rounds, pg=why_no_pg is None)
    if why_no_pg:
        samples["pg_skipped"] = why_no_pg  # type: ignore[assignment]
    launching, importing = launches(repeats)
    summary = {
        "bench": "bench_pod",
        "mode": "quick" if args.quick else "full",
        "sizes": sizes,
        "rates": {
            case: {str(size): statistics.median(v) for size, v in by_size.items()}
            for case, by_size in samples.items()
            if isinstance(by_size, dict)
        },
        "launch_s": launching,
        "import_s": importing,
        "figures": figures(samples, sizes, n_single, launching, importing),
        "curves": curves(samples, sizes),
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"sizes {sizes}, single creates {n_single}, {rounds} round(s)")
    for found in summary["figures"]:
        if "skipped" in found:
            print(f"  {found['label']}: skipped ({found['skipped']})")
            continue
        ratio = f"  {found['ratio']:.2f}x {found['raw_label']}" if found["ratio"] else ""
        met = "" if found["met"] is None else ("  ok" if found["met"] else "  BELOW TARGET")
        print(f"  {found['label']:55s} {found['plugyard']:>12,} {found['unit']}{ratio}{met}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

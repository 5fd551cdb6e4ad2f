"""Benchmark: install and uninstall of generated blueprints of 100 to 10,000 instances with
no-op operations, against a plain loop calling the same functions in the same order.

A tree of ``contained_in`` (roots x 10 mids x 10 leaves) plus one ``depends_on`` from every
leaf to a shared ``db`` node, each mapping create/configure/start/stop/delete (and a
relationship preconfigure) to no-op functions. Four sizes (roots 1, 9, 30, 90: 112 to 9,991
instances), on SQLite and on PostgreSQL (a schema of this run's own in database ``test``).
Prints operations per second, the engine's overhead per operation (engine minus plain loop),
peak memory, and ratios to the plain loop and to a raw pluggy hook call (the anchor,
``../shared/bench/anchors/pluggy_hooks.py``, run in the same invocation). Targets: install of
10,000 instances under 5 s on each store, overhead at most 50 µs per operation.

    uv run python benchmarks/bench_lifecycle.py            # full run, with the anchor script
    uv run python benchmarks/bench_lifecycle.py --quick    # a seconds-long smoke run
    uv run python benchmarks/bench_lifecycle.py --json     # one JSON object, exit status 0
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

from _figures import Target, curve, figure, series, skipped

INSTALL_TARGET = Target("<", 5.0, on="plugyard")
"""Seconds to install the largest blueprint (about 10,000 instances; full runs only)."""
OVERHEAD_TARGET = Target("<=", 50.0, on="plugyard")
"""The engine's overhead per operation, in microseconds."""
PG_URL = os.environ.get("PLUGYARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
FULL_ROOTS = (1, 9, 30, 90)
QUICK_ROOTS = (1, 2, 4, 8)
QUICK_FAN = 5


def _find_anchor() -> Path:
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "bench" / "anchors" / "pluggy_hooks.py"
        if candidate.is_file():
            return candidate
    return Path("pluggy_hooks.py")


ANCHOR = _find_anchor()

OPS = """
calls = 0


def noop(**kwargs):
    global calls
    calls += 1


def noop_rel(**kwargs):
    global calls
    calls += 1
"""

BLUEPRINT = """
plugins:
  bench: {{package: bench_ops, source: .}}
node_types:
  bench.Node:
    derived_from: plugyard.nodes.Root
    interfaces:
      lifecycle:
        create: bench.noop
        configure: bench.noop
        start: bench.noop
        stop: bench.noop
        delete: bench.noop
node_templates:
  db: {{type: bench.Node}}
  root:
    type: bench.Node
    instances: {{deploy: {roots}}}
  mid:
    type: bench.Node
    instances: {{deploy: {fan}}}
    relationships: [{{type: contained_in, target: root}}]
  leaf:
    type: bench.Node
    instances: {{deploy: {fan}}}
    relationships:
      - {{type: contained_in, target: mid}}
      - type: depends_on
        target: db
        source_interfaces:
          relationship_lifecycle:
            preconfigure: bench.noop_rel
"""


def write_blueprint(folder: Path, roots: int, fan: int) -> Path:
    """The benchmark blueprint and its no-op plugin, in ``folder``."""
    (folder / "bench_ops").mkdir()
    (folder / "bench_ops" / "__init__.py").write_text(OPS)
    path = folder / "blueprint.yaml"
    path.write_text(BLUEPRINT.format(roots=roots, fan=fan))
    return path


def plain_loop(env: Any) -> tuple[float, int]:
    """The same functions in the same order (targets before sources), in one plain loop."""
    import bench_ops

    instances = env.storage.get_node_instances(env.name)
    rank = {"db": 0, "root": 0, "mid": 1, "leaf": 2}
    ordered = sorted(instances, key=lambda i: rank[i.node_id])
    calls = 0
    started = time.perf_counter()
    for instance in ordered:
        bench_ops.noop(ctx=None)
        for rel in instance.relationships:
            if rel["type"] == "depends_on":
                bench_ops.noop_rel(ctx=None)
                calls += 1
        bench_ops.noop(ctx=None)
        bench_ops.noop(ctx=None)
        calls += 3
    for _instance in reversed(ordered):
        bench_ops.noop(ctx=None)
        bench_ops.noop(ctx=None)
        calls += 2
    return time.perf_counter() - started, calls


@functools.cache
def pluggy_call_ns(full: bool) -> tuple[float, str]:
    """Nanoseconds of one raw pluggy hook call with one impl: the anchor script, or inline."""
    if full and ANCHOR.is_file():
        out = (
            subprocess.run(
                [sys.executable, str(ANCHOR)],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        return float(json.loads(out)["cases"]["pluggy_1_impls"]["median"]), "anchor script"
    import pluggy

    spec, impl = pluggy.HookspecMarker("b"), pluggy.HookimplMarker("b")

    class Spec:
        @spec
        def on_event(self, a: int, b: int) -> None: ...

    class Impl:
        @impl
        def on_event(self, a: int, b: int) -> int:
            return a + b

    pm = pluggy.PluginManager("b")
    pm.add_hookspecs(Spec)
    pm.register(Impl())
    hook = pm.hook.on_event
    n = 20_000
    best = min(timeit.repeat(lambda: hook(a=1, b=2), number=n, repeat=5))
    return best / n * 1e9, "inline"


def figures(result: dict[str, Any], full: bool) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the targets, for ``run_all.py``."""
    engine_s = result["install_s"] + result["uninstall_s"]
    return [
        figure(
            "install_uninstall",
            f"install + uninstall, {result['instances']} instances",
            unit="ms",
            plugyard=round(engine_s * 1000, 1),
            raw=round(result["plain_loop_s"] * 1000, 3),
            raw_label="plain loop, same calls",
            ratio=result["ratio_engine_to_plain_loop"],
        ),
        figure(
            "install_s",
            f"install, {result['instances']} instances",
            unit="s",
            plugyard=result["install_s"],
            target=INSTALL_TARGET if full else None,
        ),
        figure(
            "overhead_per_op",
            "engine overhead per operation",
            unit="µs",
            plugyard=result["overhead_us_per_op"],
            raw=round(result["pluggy_hook_call_ns"] / 1000, 3),
            raw_label=f"one raw pluggy hook call, {result['anchor']}",
            ratio=result["ratio_overhead_to_pluggy_call"],
            target=OVERHEAD_TARGET,
        ),
    ]


def pg_available() -> str | None:
    """None if PostgreSQL answers at ``PG_URL``, else why not."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__})"
    return None


def pg_schema(action: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        if action == "create":
            conn.execute(f"CREATE SCHEMA {schema}")
        else:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def run(roots: int, fan: int, full: bool, store: str = "sqlite") -> dict[str, Any]:
    """Install and uninstall once on ``store`` (sqlite or postgresql); the figures as a dict."""

    schema = f"bench_lc_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp:
        folder = Path(tmp)
        path = write_blueprint(folder, roots, fan)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        storage: Any = folder / "bench.db"
        if store == "postgresql":
            pg_schema("create", schema)
            storage = f"{PG_URL}?options=-csearch_path%3D{schema}"
        try:
            return _run(path, storage, roots, fan, full, store, rss_before)
        finally:
            if store == "postgresql":
                pg_schema("drop", schema)


def _run(
    path: Path, storage: Any, roots: int, fan: int, full: bool, store: str, rss_before: int
) -> dict[str, Any]:
    from plugyard.adapters.lifecycle.local import init_env

    env = init_env(path, name=f"bench{roots}x{fan}", storage=storage)
    instances = len(env.storage.get_node_instances(env.name))
    started = time.perf_counter()
    installed = env.execute("install", task_retries=0)
    install_s = time.perf_counter() - started
    started = time.perf_counter()
    uninstalled = env.execute("uninstall", task_retries=0)
    uninstall_s = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plain_s, plain_calls = plain_loop(env)
    env.close()
    ops = installed["succeeded"] + uninstalled["succeeded"]
    assert ops == plain_calls, (ops, plain_calls)
    engine_s = install_s + uninstall_s
    overhead_us = (engine_s - plain_s) / ops * 1e6
    pluggy_ns, anchor = pluggy_call_ns(full)
    result = {
        "bench": "bench_lifecycle",
        "mode": "full" if full else "quick",
        "store": store,
        "instances": instances,
        "operations": ops,
        "install_s": round(install_s, 3),
        "uninstall_s": round(uninstall_s, 3),
        "engine_s": round(engine_s, 3),
        "ops_per_s": round(ops / engine_s),
        "plain_loop_s": round(plain_s, 6),
        "overhead_us_per_op": round(overhead_us, 1),
        "ratio_engine_to_plain_loop": round(engine_s / plain_s, 1),
        "pluggy_hook_call_ns": round(pluggy_ns, 1),
        "ratio_overhead_to_pluggy_call": round(overhead_us * 1000 / pluggy_ns, 1),
        "anchor": anchor,
        "peak_rss_mb": round(rss_after / 1024, 1),
        "rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
    }
    return result


def run_sizes(roots: tuple[int, ...], fan: int, full: bool) -> dict[str, Any]:
    """Every size on SQLite, then on PostgreSQL when it answers; the largest gives the figures."""
    sqlite_runs = [run(r, fan, full) for r in roots]
    why_no_pg = pg_available()
    if why_no_pg and os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
        sys.exit(f"bench_lifecycle: {why_no_pg} (PLUGYARD_REQUIRE_SERVICES=1)")
    pg_runs = [] if why_no_pg else [run(r, fan, full, "postgresql") for r in roots]
    result = dict(sqlite_runs[-1])
    result["sizes"] = [found["instances"] for found in sqlite_runs]
    result["runs"] = {"sqlite": sqlite_runs, "postgresql": pg_runs}
    result["figures"] = figures(result, full)
    if pg_runs:
        top = pg_runs[-1]
        result["figures"].append(
            figure(
                "install_s_postgresql",
                f"install on PostgreSQL, {top['instances']} instances",
                unit="s",
                plugyard=top["install_s"],
                target=INSTALL_TARGET if full else None,
            )
        )
    else:
        result["figures"].append(
            skipped("install_s_postgresql", "install on PostgreSQL", str(why_no_pg))
        )
    result["curves"] = curves(sqlite_runs, pg_runs)
    return result


def curves(
    sqlite_runs: list[dict[str, Any]], pg_runs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Install time and overhead per operation against the number of instances."""

    def points(runs: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
        return [(found["instances"], found[key]) for found in runs]

    install = [
        series("install + uninstall, SQLite", points(sqlite_runs, "engine_s")),
        series("plain loop, same calls", points(sqlite_runs, "plain_loop_s"), raw=True),
    ]
    overhead = [series("engine overhead, SQLite", points(sqlite_runs, "overhead_us_per_op"))]
    if pg_runs:
        install.insert(1, series("install + uninstall, PostgreSQL", points(pg_runs, "engine_s")))
        overhead.append(
            series("engine overhead, PostgreSQL", points(pg_runs, "overhead_us_per_op"))
        )
    overhead.append(
        series(
            "one raw pluggy hook call",
            [(found["instances"], found["pluggy_hook_call_ns"] / 1000) for found in sqlite_runs],
            raw=True,
        )
    )
    return [
        curve("install", "install + uninstall", x_label="instances", unit="s", lines=install),
        curve(
            "overhead_per_op",
            "engine overhead per operation",
            x_label="instances",
            unit="µs",
            lines=overhead,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run and print; the exit status says whether the targets were met (unless ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="up to ~150 instances, no anchor script"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object only (targets in it)"
    )
    args = parser.parse_args(argv)
    roots, fan = (QUICK_ROOTS, QUICK_FAN) if args.quick else (FULL_ROOTS, 10)
    result = run_sizes(roots, fan, full=not args.quick)
    print(json.dumps(result))
    if args.json:
        return 0
    print(
        f"install of {result['instances']} instances: {result['install_s']:.3f}s "
        f"(target < {INSTALL_TARGET.limit:g} s, full runs); "
        f"uninstall {result['uninstall_s']:.3f}s; "
        f"{result['ops_per_s']} ops/s"
    )
    print(
        f"engine overhead {result['overhead_us_per_op']:.1f} us/op "
        f"(target < {OVERHEAD_TARGET.limit:g}); "
        f"{result['ratio_engine_to_plain_loop']}x a plain loop; "
        f"{result['ratio_overhead_to_pluggy_call']}x one raw pluggy hook call "
        f"({result['pluggy_hook_call_ns']:.0f} ns, {result['anchor']}); "
        f"peak RSS {result['peak_rss_mb']} MB (+{result['rss_growth_mb']} MB)"
    )
    met = all(found["met"] is not False for found in result["figures"])
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

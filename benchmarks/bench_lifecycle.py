"""Benchmark: install and uninstall of a generated 1,000-instance blueprint with no-op
operations, against a plain loop calling the same functions in the same order.

A tree of ``contained_in`` (9 roots x 10 mids x 10 leaves) plus one ``depends_on`` from every
leaf to a shared ``db`` node, each mapping create/configure/start/stop/delete (and a
relationship preconfigure) to no-op functions. Prints operations per second, the engine's
overhead per operation (engine minus plain loop), peak memory, and ratios to the plain loop
and to a raw pluggy hook call (the anchor, ``../shared/bench/anchors/pluggy_hooks.py``, run in
the same invocation). Targets: install under 3 s, overhead under 1 ms per operation.

    uv run python benchmarks/bench_lifecycle.py            # full run, with the anchor script
    uv run python benchmarks/bench_lifecycle.py --quick    # a seconds-long smoke run
    uv run python benchmarks/bench_lifecycle.py --json     # one JSON object, exit status 0
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from _figures import Target, figure

INSTALL_TARGET = Target("<", 3.0, on="plugyard")
"""Seconds to install the full 1,000-instance blueprint (full runs only)."""
OVERHEAD_TARGET = Target("<", 1000.0, on="plugyard")
"""The engine's overhead per operation, in microseconds."""


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


def run(roots: int, fan: int, full: bool) -> dict[str, Any]:
    """Install and uninstall once; the figures as a dict."""
    from plugyard.adapters.lifecycle.local import init_env

    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp:
        folder = Path(tmp)
        path = write_blueprint(folder, roots, fan)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        env = init_env(path, name="bench", storage=folder / "bench.db")
        instances = len(env.storage.get_node_instances("bench"))
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
        "instances": instances,
        "operations": ops,
        "install_s": round(install_s, 3),
        "uninstall_s": round(uninstall_s, 3),
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
    result["figures"] = figures(result, full)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run and print; the exit status says whether the targets were met (unless ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~100 instances, no anchor script")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object only (targets in it)"
    )
    args = parser.parse_args(argv)
    roots, fan = (1, 10) if args.quick else (9, 10)
    result = run(roots, fan, full=not args.quick)
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

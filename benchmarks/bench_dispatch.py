"""``host.call_hook`` against a raw pluggy hook call, host start-up, the first event after
start with every adapter installed, and CLI start-up, in one run.

Every hook figure is nanoseconds per call, loop overhead included, measured as the baseline
pluggy measurements were: calibrate N so that a round lasts about a fixed time, run one
warm-up round, then time several rounds of N calls with the garbage collector disabled and
report the median (and min and max) of the per-round ns/call. ``host.call_hook`` is timed inside
one running event loop, around a loop of N awaits.

Run it from the repository root::

    .venv/bin/python benchmarks/bench_dispatch.py           # full run, a table
    .venv/bin/python benchmarks/bench_dispatch.py --quick   # a few seconds
    .venv/bin/python benchmarks/bench_dispatch.py --json    # one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import pluggy
from _figures import Target, curve, figure, series

from plugyard.host import Host, hookspec, policy
from plugyard.sdk import PROJECT_NAME, hookimpl

IMPL_COUNTS = (1, 5, 10, 20)
TARGET_RATIOS = {1: 2.0, 5: 1.35, 20: 1.15}
"""``host.call_hook`` under isolation should cost at most this many raw pluggy calls: the
fixed cost of a call may stay, but each implementation should cost what pluggy's does."""
TARGETS = {impls: Target("<=", ratio) for impls, ratio in TARGET_RATIOS.items()}
PER_IMPL_TARGET = Target("<=", 1.15)
"""Each implementation past the fifth costs at most this much more than pluggy's."""

Timer = Callable[[int], Awaitable[float]]
"""Runs N iterations of one case and returns the seconds they took."""


@dataclass(frozen=True, slots=True)
class Settings:
    """How long to measure: rounds per case, the length of a round, process launches."""

    name: str
    rounds: int
    round_s: float
    min_n: int
    max_n: int
    lifecycle_runs: int
    process_runs: int
    first_event_runs: int


FULL = Settings(
    "full", 7, 0.15, 1000, 2_000_000, lifecycle_runs=30, process_runs=15, first_event_runs=10
)
QUICK = Settings(
    "quick", 3, 0.02, 100, 200_000, lifecycle_runs=5, process_runs=3, first_event_runs=2
)
FIRST_EVENT_TARGET = Target("<=", 5.0, on="plugyard")
"""The first event after start reaches its subscriber within 5 ms, whatever is installed."""
RELOAD_TARGET = Target("<=", 10.0, on="plugyard")
"""Reloading a plain hook plugin pauses it for at most 10 ms."""
HELP_TARGET = Target("<", 100.0, on="plugyard")
"""``plugyard --help`` answers within 100 ms on a quiet machine."""


class BenchSpec:
    """The benchmark's hook specification: isolated, as plugyard's notification hooks are."""

    @hookspec
    @policy(errors="isolate")
    def bench_hook(self, a: int, b: int) -> int | None:
        """Return something computed from ``a`` and ``b``."""


class Adder:
    """One sync implementation, the same for the host and for raw pluggy."""

    @hookimpl
    def bench_hook(self, a: int, b: int) -> int:
        return a + b


# -- measuring ------------------------------------------------------------------------------


def _summary(samples: Sequence[float], unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), 1),
        "min": round(min(samples), 1),
        "max": round(max(samples), 1),
        "unit": unit,
        **extra,
    }


async def calibrate(timer: Timer, settings: Settings) -> int:
    """N such that one round of ``timer`` lasts about ``settings.round_s``."""
    n = settings.min_n
    while True:
        elapsed = await timer(n)
        if elapsed > settings.round_s / 8 or n >= settings.max_n:
            break
        n *= 4
    return max(settings.min_n, min(settings.max_n, int(n * settings.round_s / elapsed)))


async def measure(timers: dict[str, Timer], settings: Settings) -> dict[str, dict[str, Any]]:
    """ns per iteration of each timer: calibrate, warm up, then time rounds with gc off.

    The timers take turns round by round, so that a change in the machine's load during the
    run hits every case alike and their ratio stays fair.
    """
    sizes = {name: await calibrate(timer, settings) for name, timer in timers.items()}
    for name, timer in timers.items():
        await timer(sizes[name])
    samples: dict[str, list[float]] = {name: [] for name in timers}
    gc.disable()
    try:
        for _ in range(settings.rounds):
            for name, timer in timers.items():
                samples[name].append(await timer(sizes[name]) / sizes[name] * 1e9)
    finally:
        gc.enable()
    return {
        name: _summary(values, "ns/call", n_per_round=sizes[name], rounds=settings.rounds)
        for name, values in samples.items()
    }


def empty_loop() -> Timer:
    """The loop alone, to subtract by eye."""

    async def run(n: int) -> float:
        started = time.perf_counter()
        for _ in repeat(None, n):
            pass
        return time.perf_counter() - started

    return run


def await_noop() -> Timer:
    """The floor of anything awaited: one await of a coroutine that returns at once."""

    async def noop(a: int, b: int) -> int:
        return a + b

    async def run(n: int) -> float:
        started = time.perf_counter()
        for _ in repeat(None, n):
            await noop(a=1, b=2)
        return time.perf_counter() - started

    return run


def pluggy_call(hook: pluggy.HookCaller) -> Timer:
    """``hook(a=1, b=2)`` on a bound ``pm.hook.bench_hook``, as the pluggy anchor calls it."""

    async def run(n: int) -> float:
        started = time.perf_counter()
        for _ in repeat(None, n):
            hook(a=1, b=2)
        return time.perf_counter() - started

    return run


def host_acall(host: Host) -> Timer:
    """``await host.call_hook("bench_hook", a=1, b=2)``, N awaits in the running loop."""
    acall = host.call_hook

    async def run(n: int) -> float:
        started = time.perf_counter()
        for _ in repeat(None, n):
            await acall("bench_hook", a=1, b=2)
        return time.perf_counter() - started

    return run


def raw_pluggy(impls: int) -> pluggy.HookCaller:
    """A plain ``pluggy.PluginManager`` with ``impls`` adders registered."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(BenchSpec)
    for i in range(impls):
        pm.register(Adder(), name=f"adder{i}")
    hook: pluggy.HookCaller = pm.hook.bench_hook
    if hook(a=1, b=2) != [3] * impls:
        raise AssertionError("raw pluggy returned the wrong results")
    return hook


def host_config(name: str, runtime: Path) -> dict[str, Any]:
    """A private runtime folder, so the benchmark never touches a real host's ``host.json``."""
    return {"host": {"name": name, "runtime_dir": str(runtime / name)}}


async def measure_hooks(settings: Settings, runtime: Path) -> dict[str, dict[str, Any]]:
    """Every hook-call case, in one running loop."""
    cases = await measure({"empty_loop": empty_loop(), "await_noop": await_noop()}, settings)
    for impls in IMPL_COUNTS:
        adders = {f"adder{i}": Adder() for i in range(impls)}
        host = Host(host_config(f"bench-{impls}", runtime), autoload=False, plugins=adders)
        host.pm.add_hookspecs(BenchSpec)
        async with host:
            outcome = await host.call_hook("bench_hook", a=1, b=2)
            if outcome.values != [3] * impls or not outcome.ok:
                raise AssertionError(f"host.acall returned {outcome!r}")
            await host.bus.drain()
            timers = {
                f"pluggy_{impls}_impls": pluggy_call(raw_pluggy(impls)),
                f"acall_isolate_{impls}_impls": host_acall(host),
            }
            cases |= await measure(timers, settings)
    return cases


async def measure_lifecycle(settings: Settings, runtime: Path) -> dict[str, dict[str, Any]]:
    """``Host(autoload=False)``, then ``async with host: pass``, in milliseconds."""
    created: list[float] = []
    cycled: list[float] = []
    for run in range(settings.lifecycle_runs + 1):
        started = time.perf_counter()
        host = Host(host_config("bench-lifecycle", runtime), autoload=False)
        made = time.perf_counter()
        async with host:
            pass
        stopped = time.perf_counter()
        if run:  # the first cycle warms imports and caches up
            created.append((made - started) * 1e3)
            cycled.append((stopped - started) * 1e3)
    return {
        "host_new": _summary(created, "ms", runs=len(created)),
        "host_new_start_stop": _summary(cycled, "ms", runs=len(cycled)),
    }


async def measure_first_event(settings: Settings, runtime: Path) -> dict[str, dict[str, Any]]:
    """How late the first event published after start reaches a subscriber, with every
    installed adapter loaded (autoload), in milliseconds; beside it, the same hand-over
    through a raw ``asyncio.Queue`` to a waiting task."""
    late: list[float] = []
    raw: list[float] = []
    for run in range(settings.first_event_runs + 1):
        config = host_config(f"bench-first-{run}", runtime)
        config["celery"] = {"state_dir": str(runtime / f"celery-{run}")}
        config["pod"] = {"database": f"sqlite:///{runtime / f'pod-{run}.db'}"}
        config["lifecycle"] = {"storage_dir": str(runtime / f"lifecycle-{run}")}
        host = Host(config)
        arrived = asyncio.get_running_loop().create_future()

        def seen(event: Any, arrived: asyncio.Future[float] = arrived) -> None:
            if event.topic == "bench.first" and not arrived.done():
                arrived.set_result(time.perf_counter())

        host.subscribe("bench.first", seen)
        async with host:
            published = time.perf_counter()
            host.publish("bench.first")
            reached = await asyncio.wait_for(arrived, 30)
        queue: asyncio.Queue[float] = asyncio.Queue()
        consumer = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        put = time.perf_counter()
        queue.put_nowait(put)
        await consumer
        got = time.perf_counter()
        if run:  # the first start warms imports and caches up
            late.append((reached - published) * 1e3)
            raw.append((got - put) * 1e3)
    return {
        "first_event_after_start": _summary(late, "ms", runs=len(late)),
        "queue_handover": _summary(raw, "ms", runs=len(raw)),
    }


RELOADED = """
from plugyard.sdk import Command, hookimpl


class Reloaded:
    @hookimpl
    def plugyard_commands(self):
        return [Command("reloaded.ping", lambda: {"pong": True})]

    @hookimpl
    def plugyard_event(self, event):
        pass
"""


async def measure_reload(settings: Settings, runtime: Path) -> dict[str, dict[str, Any]]:
    """The pause ``host.reload_plugin`` causes for a plain hook plugin loaded from a
    ``[plugins]`` table (unload, import from disk, load, start), in milliseconds; beside it,
    a fresh import of the same module alone."""
    import importlib.util

    folder = runtime / "reload"
    folder.mkdir()
    (folder / "bench_reloaded.py").write_text(RELOADED)
    config = host_config("bench-reload", runtime)
    config["host"]["python_path"] = [str(folder)]
    config["plugins"] = {"reloaded": {"use": "bench_reloaded:Reloaded"}}
    paused: list[float] = []
    imported: list[float] = []
    async with Host(config, autoload=False) as host:
        for run in range(settings.lifecycle_runs + 1):
            started = time.perf_counter()
            record = await host.reload_plugin("reloaded")
            done = time.perf_counter()
            if record.state != "started":
                raise AssertionError(f"reload left the plugin {record.state}: {record.error}")
            found = importlib.util.find_spec("bench_reloaded")
            assert found is not None and found.loader is not None
            begun = time.perf_counter()
            found.loader.exec_module(importlib.util.module_from_spec(found))
            ended = time.perf_counter()
            if run:  # the first reload warms caches up
                paused.append((done - started) * 1e3)
                imported.append((ended - begun) * 1e3)
        await host.run_command("reloaded.ping")
    sys.modules.pop("bench_reloaded", None)
    sys.path[:] = [p for p in sys.path if p != str(folder)]
    return {
        "reload_pause": _summary(paused, "ms", runs=len(paused)),
        "fresh_import": _summary(imported, "ms", runs=len(imported)),
    }


def measure_processes(settings: Settings, cache: Path) -> dict[str, dict[str, Any]]:
    """Wall time of ``plugyard --help`` and ``python -c pass``, launched alternately.

    Both run with bytecode caching on, in a private ``PYTHONPYCACHEPREFIX`` that the first
    (untimed) launch fills: an installed package has its ``.pyc`` files, so compiling every
    module at every launch (``PYTHONDONTWRITEBYTECODE=1`` without a cache) would measure the
    compiler rather than plugyard.
    """
    script = Path(sys.executable).parent / "plugyard"
    commands = {"python_c_pass": [sys.executable, "-c", "pass"]}
    if script.exists():
        commands["plugyard_help"] = [str(script), "--help"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for run in range(settings.process_runs + 1):
        for name, argv in commands.items():
            started = time.perf_counter()
            subprocess.run(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env
            )
            if run:  # the first launch fills the bytecode cache
                samples[name].append((time.perf_counter() - started) * 1e3)
    return {name: _summary(values, "ms", runs=len(values)) for name, values in samples.items()}


# -- reporting ------------------------------------------------------------------------------


def ratios(cases: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Each ratio to its raw building block, from the medians."""
    found: dict[str, float | None] = {}
    for impls in IMPL_COUNTS:
        acall = cases[f"acall_isolate_{impls}_impls"]["median"]
        found[f"acall_vs_pluggy_{impls}_impls"] = round(
            acall / cases[f"pluggy_{impls}_impls"]["median"], 2
        )
    helped = cases.get("plugyard_help")
    found["plugyard_help_vs_python_c_pass"] = (
        round(helped["median"] / cases["python_c_pass"]["median"], 2) if helped else None
    )
    return found


def per_impl(cases: dict[str, dict[str, Any]], kind: str) -> float:
    """ns each implementation adds, from the medians at 5 and 20 implementations."""
    return round((cases[f"{kind}_20_impls"]["median"] - cases[f"{kind}_5_impls"]["median"]) / 15, 1)


def figures(cases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the target, for ``run_all.py``."""
    found = []
    for impls in TARGETS:
        found.append(
            figure(
                f"acall_vs_pluggy_{impls}_impls",
                f"`host.call_hook` (isolate), {impls} sync impl{'s' if impls > 1 else ''}",
                unit="ns/call",
                plugyard=cases[f"acall_isolate_{impls}_impls"]["median"],
                raw=cases[f"pluggy_{impls}_impls"]["median"],
                raw_label="raw pluggy",
                target=TARGETS[impls],
            )
        )
    found.append(
        figure(
            "per_impl_vs_pluggy",
            "`host.call_hook` (isolate), cost of each implementation from 5 to 20",
            unit="ns/impl",
            plugyard=per_impl(cases, "acall_isolate"),
            raw=per_impl(cases, "pluggy"),
            raw_label="raw pluggy",
            target=PER_IMPL_TARGET,
        )
    )
    found.append(
        figure(
            "first_event_after_start",
            "first event after start reaches a subscriber, every adapter installed",
            unit="ms",
            plugyard=cases["first_event_after_start"]["median"],
            raw=cases["queue_handover"]["median"],
            raw_label="`asyncio.Queue` hand-over",
            target=FIRST_EVENT_TARGET,
        )
    )
    found.append(
        figure(
            "reload_pause",
            "`host.reload_plugin` of a plain hook plugin (unload, import, load, start)",
            unit="ms",
            plugyard=cases["reload_pause"]["median"],
            raw=cases["fresh_import"]["median"],
            raw_label="a fresh import of its module",
            target=RELOAD_TARGET,
        )
    )
    found.append(
        figure(
            "host_new_start_stop",
            "`Host(autoload=False)` + start + stop",
            unit="ms",
            plugyard=cases["host_new_start_stop"]["median"],
        )
    )
    helped = cases.get("plugyard_help")
    if helped is not None:
        found.append(
            figure(
                "plugyard_help_vs_python_c_pass",
                "`plugyard --help`",
                unit="ms",
                plugyard=helped["median"],
                raw=cases["python_c_pass"]["median"],
                raw_label="`python -c pass`",
                target=HELP_TARGET,
            )
        )
    return found


def curves(cases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """ns per call against the number of implementations, beside raw pluggy."""

    def line(kind: str, label: str, raw: bool = False) -> dict[str, Any]:
        points = [(n, cases[f"{kind}_{n}_impls"]["median"]) for n in IMPL_COUNTS]
        return series(label, points, raw=raw)

    return [
        curve(
            "call_hook",
            "`host.call_hook` (isolate) against implementations",
            x_label="sync implementations",
            unit="ns/call",
            log_x=False,
            lines=[
                line("acall_isolate", "host.call_hook (isolate)"),
                line("pluggy", "raw pluggy", raw=True),
            ],
        )
    ]


def report(result: dict[str, Any]) -> str:
    """The figures as a small table."""
    cases, found = result["cases"], result["ratios"]
    rounds = cases["pluggy_1_impls"]["rounds"]
    lines = [
        f"plugyard dispatch benchmark ({result['mode']} run): Python {result['python']}, "
        f"pluggy {result['pluggy']}, plugyard-host {result['plugyard_host']}",
        "",
        f"{f'hook(a=1, b=2): ns per call, median of {rounds} rounds':<52}"
        "raw pluggy  acall (isolate)   ratio",
    ]
    for impls in IMPL_COUNTS:
        ratio = found[f"acall_vs_pluggy_{impls}_impls"]
        target = TARGETS.get(impls)
        verdict = "" if target is None else ("ok" if target.met(ratio) else "over target")
        label = f"{impls} sync implementation{'s' if impls > 1 else ''}"
        lines.append(
            f"  {label:<50}{cases[f'pluggy_{impls}_impls']['median']:>10,.0f}"
            f"{cases[f'acall_isolate_{impls}_impls']['median']:>17,.0f}"
            f"{ratio:>7.2f}x  {verdict}"
        )
    ours, raw = per_impl(cases, "acall_isolate"), per_impl(cases, "pluggy")
    lines += [
        f"  {'each implementation from 5 to 20 (ns)':<50}{raw:>10,.0f}{ours:>17,.0f}"
        f"{ours / raw:>7.2f}x",
        "  (targets: "
        + ", ".join(f"{n} impls <= {r:g}x" for n, r in TARGET_RATIOS.items())
        + f", each implementation <= {PER_IMPL_TARGET.limit:g}x; an empty loop costs "
        f"{cases['empty_loop']['median']:,.0f} ns, one await of a trivial coroutine "
        f"{cases['await_noop']['median']:,.0f} ns)",
        "",
        f"{'Host(autoload=False) + start + stop, no plugins':<50}"
        f"{cases['host_new_start_stop']['median']:>9.1f} ms"
        f"  (construction {cases['host_new']['median']:.1f} ms)",
    ]
    first = cases["first_event_after_start"]
    lines.append(
        f"{'first event after start, every adapter installed':<50}"
        f"{first['median']:>9.2f} ms  (asyncio.Queue hand-over "
        f"{cases['queue_handover']['median']:.3f} ms; target <= {FIRST_EVENT_TARGET.limit:g} ms)"
    )
    lines.append(
        f"{'reload of a plain hook plugin (pause)':<50}"
        f"{cases['reload_pause']['median']:>9.2f} ms  (a fresh import of its module "
        f"{cases['fresh_import']['median']:.3f} ms; target <= {RELOAD_TARGET.limit:g} ms)"
    )
    helped = cases.get("plugyard_help")
    if helped is None:
        lines.append("plugyard --help: no plugyard console script next to this Python")
    else:
        lines += [
            f"{'plugyard --help':<50}{helped['median']:>9.1f} ms",
            f"{'python -c pass':<50}{cases['python_c_pass']['median']:>9.1f} ms",
            f"{'plugyard --help / python -c pass':<50}"
            f"{found['plugyard_help_vs_python_c_pass']:>9.2f}x",
            f"  (median of {helped['runs']} launches each, alternating, bytecode cache warm)",
        ]
    return "\n".join(lines)


def run(settings: Settings) -> dict[str, Any]:
    """Every figure of one run, as JSON-ready data."""
    from importlib.metadata import version

    with tempfile.TemporaryDirectory(prefix="plugyard-bench-") as folder:
        runtime = Path(folder)
        cases = asyncio.run(measure_hooks(settings, runtime))
        cases |= asyncio.run(measure_lifecycle(settings, runtime))
        cases |= asyncio.run(measure_first_event(settings, runtime))
        cases |= asyncio.run(measure_reload(settings, runtime))
        cases |= measure_processes(settings, runtime / "pycache")
    return {
        "bench": "bench_dispatch",
        "mode": settings.name,
        "python": platform.python_version(),
        "pluggy": version("pluggy"),
        "plugyard_host": version("plugyard-host"),
        "target_ratios": {str(n): r for n, r in TARGET_RATIOS.items()},
        "cases": cases,
        "ratios": ratios(cases),
        "figures": figures(cases),
        "curves": curves(cases),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table, or one JSON object with ``--json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a run of a few seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else FULL)
    print(json.dumps(result) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

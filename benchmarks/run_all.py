"""Run every benchmark in this folder, each in its own process, and write one Markdown table.

From the repository root::

    uv run python benchmarks/run_all.py                  # full runs, writes benchmarks/RESULTS.md
    uv run python benchmarks/run_all.py --quick --output /tmp/results.md    # what CI runs
    uv run python benchmarks/run_all.py --only pod --only bench_zmq         # some of them
    uv run python benchmarks/run_all.py --json           # one JSON object on stdout

Every ``bench_*.py`` beside this script runs with ``--json`` (and ``--quick``), with this
interpreter, one after the other. Each prints a ``figures`` list: plugyard beside its raw
building block, the ratio, and the target the benchmark itself declares. Exit status: 0 when
every benchmark ran; 1 when one failed (non-zero exit, timeout, no ``figures`` in its JSON),
or, with ``--strict``, when a target was not met; 2 for bad options.

A benchmark may also print ``curves`` (a figure at several sizes beside its raw anchor, see
``_figures.curve``). A full run draws each as a PNG under ``benchmarks/figures/`` (``--figures``
elsewhere; a quick run draws only when given ``--figures``) and ``RESULTS.md`` shows them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUTPUT = HERE / "RESULTS.md"
DEFAULT_FIGURES = HERE / "figures"
TIMEOUTS = {"quick": 300.0, "full": 1800.0}
"""Seconds one benchmark may take before it is stopped and reported as failed."""
TAIL_LINES = 20
COLUMNS = ("benchmark", "figure", "plugyard", "raw building block", "ratio", "target", "met")


@dataclass
class Run:
    """One benchmark's run: its JSON report, or why there is none."""

    name: str
    seconds: float = 0.0
    report: dict[str, Any] | None = None
    error: str | None = None
    stderr_tail: str = ""
    tail_of: str = "stderr"
    figures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def unmet(self) -> list[dict[str, Any]]:
        return [found for found in self.figures if found.get("met") is False]


# -- running ---------------------------------------------------------------------------------


def discover(folder: Path) -> dict[str, Path]:
    """Every ``bench_*.py`` in ``folder``, by name without the suffix, in name order."""
    return {path.stem: path for path in sorted(folder.glob("bench_*.py"))}


def select(known: dict[str, Path], only: Sequence[str]) -> dict[str, Path]:
    """The benchmarks ``--only`` names (``pod``, ``bench_pod`` or ``bench_pod.py``)."""
    if not only:
        return known
    chosen: dict[str, Path] = {}
    for raw in only:
        name = raw.removesuffix(".py")
        name = name if name.startswith("bench_") else f"bench_{name}"
        if name not in known:
            raise ValueError(
                f"--only {raw!r}: no {name}.py in {HERE}; known: {', '.join(known) or 'none'}"
            )
        chosen[name] = known[name]
    return chosen


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(line for line in text.strip().splitlines()[-lines:])


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _stop_group(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop a benchmark and every process it started (its process group); its output."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            return proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    return "", ""  # a process outside the group still holds its pipes: give up on the output


def parse_report(stdout: str) -> dict[str, Any]:
    """The last JSON object a benchmark printed, checked to hold a well-formed ``figures`` list."""
    report = None
    for line in reversed(stdout.strip().splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        break
    if not isinstance(report, dict):
        raise ValueError("printed no JSON object on stdout")
    figures = report.get("figures")
    if not isinstance(figures, list):
        raise ValueError("its JSON object has no 'figures' list")
    for index, found in enumerate(figures):
        where = f"figures[{index}]"
        if not isinstance(found, dict) or not isinstance(found.get("label"), str):
            raise ValueError(f"{where} is not an object with a 'label'")
        if "skipped" in found:
            continue
        if not isinstance(found.get("plugyard"), int | float) or "unit" not in found:
            raise ValueError(f"{where} ({found['label']}) lacks a number 'plugyard' or a 'unit'")
        target = found.get("target")
        if target is not None and not (
            isinstance(target, dict) and {"on", "op", "limit"} <= set(target)
        ):
            raise ValueError(f"{where} ({found['label']}): 'target' needs 'on', 'op', 'limit'")
    return report


def run_benchmark(name: str, script: Path, *, quick: bool, timeout: float) -> Run:
    """Run one benchmark with ``--json`` in its own process group, and read its figures."""
    argv = [sys.executable, str(script), "--json", *(["--quick"] if quick else [])]
    run = Run(name)
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = _stop_group(proc)
        run.error = f"timed out after {timeout:g} s"
    except BaseException:
        _stop_group(proc)
        raise
    run.seconds = time.perf_counter() - started
    run.stderr_tail = _tail(stderr)
    if run.error is None and proc.returncode != 0:
        last = _last_line(stderr)
        run.error = f"exit status {proc.returncode}" + (f": {last}" if last else "")
    if run.error is None:
        try:
            run.report = parse_report(stdout)
        except ValueError as exc:
            run.error = str(exc)
            if not run.stderr_tail:
                run.stderr_tail, run.tail_of = _tail(stdout), "stdout"
        else:
            run.figures = run.report["figures"]
    return run


# -- describing the machine ------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git(
            "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/RESULTS.md"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes" if changed else "")


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: how busy the machine was besides the run."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def environment(mode: str) -> dict[str, Any]:
    """Where and when the figures were taken."""
    return {
        "mode": mode,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "system": f"{platform.system()} {platform.release()} {platform.machine()}",
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "load_average_at_start": load_average(),
            "load_average_at_end": None,
        },
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "commit": _commit(),
    }


# -- the table -------------------------------------------------------------------------------


def number(value: float) -> str:
    """A figure with as many digits as a benchmark's noise leaves meaningful."""
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio_text(ratio: float) -> str:
    """A ratio to two decimals, fewer digits when large, two significant when tiny."""
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    if ratio >= 0.1 or ratio == 0:
        return f"{ratio:.2f}x"
    return f"{ratio:.2g}x"


def target_text(found: dict[str, Any]) -> str:
    target = found.get("target")
    if not target:
        return ""
    limit = f"{target['limit']:g}"
    if target["on"] == "ratio":
        return f"{target['op']} {limit}x"
    return f"{target['op']} {limit} {found.get('unit', '')}".rstrip()


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def figure_row(name: str, found: dict[str, Any]) -> list[str]:
    if "skipped" in found:
        cells = ["", "", "", target_text(found), f"skipped: {found['skipped']}"]
        return [name, found["label"], *cells]
    unit = found["unit"]
    raw = found.get("raw")
    raw_text = "" if raw is None else f"{number(raw)} {unit}"
    if raw is not None and found.get("raw_label"):
        raw_text += f" ({found['raw_label']})"
    ratio = found.get("ratio")
    met = found.get("met")
    return [
        name,
        found["label"],
        f"{number(found['plugyard'])} {unit}",
        raw_text,
        "" if ratio is None else ratio_text(ratio),
        target_text(found),
        "" if met is None else ("yes" if met else "**no**"),
    ]


def table(runs: Sequence[Run]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for run in runs:
        if run.ok:
            rows = [figure_row(run.name, found) for found in run.figures]
        else:
            error = run.error or ""
            reason = error if len(error) <= 160 else error[:157] + "..."
            rows = [[run.name, f"**failed**: {reason}", "", "", "", "", "**failed**"]]
        lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def all_curves(runs: Sequence[Run]) -> list[tuple[str, dict[str, Any]]]:
    """``(benchmark, curve)`` for every curve the benchmarks that ran reported."""
    return [
        (run.name, found)
        for run in runs
        if run.ok and run.report is not None
        for found in run.report.get("curves") or ()
    ]


def curves_section(runs: Sequence[Run], pictures: dict[tuple[str, str], str]) -> list[str]:
    """Each curve: its picture (when drawn), then its points as a table."""
    found_curves = all_curves(runs)
    if not found_curves:
        return []
    lines = ["## Curves", ""]
    for bench, found in found_curves:
        lines += [f"### {bench}: {found['title']}", ""]
        picture = pictures.get((bench, found["name"]))
        if picture:
            lines += [f"![{bench}: {found['title']}]({picture})", ""]
        sizes = sorted({point[0] for line in found["series"] for point in line["points"]})
        header = [
            found["x_label"],
            *(line["label"] + (" (raw)" if line["raw"] else "") for line in found["series"]),
        ]
        lines += [
            "| " + " | ".join(_cell(cell) for cell in header) + " |",
            "|" + "---|" * len(header),
        ]
        for size in sizes:
            cells = [number(size)]
            for line in found["series"]:
                ys = [point[1] for point in line["points"] if point[0] == size]
                cells.append(number(ys[0]) if ys else "")
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"({found['unit']})", ""]
    return lines


def markdown(
    env: dict[str, Any],
    runs: Sequence[Run],
    seconds: float,
    strict: bool,
    pictures: dict[tuple[str, str], str] | None = None,
) -> str:
    """RESULTS.md: where and when, the table, then unmet targets and failures spelled out."""
    machine = env["machine"]
    start, end = machine["load_average_at_start"], machine["load_average_at_end"]
    load = f"load average {', '.join(map(str, start))} at start" if start else ""
    if start and end:
        load += f", {', '.join(map(str, end))} at end"
    took = ", ".join(f"{run.name} {run.seconds:.0f} s" for run in runs)
    quick = env["mode"] == "quick"
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/run_all.py`; [README.md](README.md) says what each benchmark "
        "measures and how. Ratios are plugyard / raw building block, from one run on one "
        "machine: for rates (per second) higher is better, for times lower is better, and each "
        "target says which way it reads.",
        "",
        f"- **mode**: {env['mode']}"
        + (" (seconds-long smoke runs: noisy figures, unmet targets are hints)" if quick else ""),
        f"- **date**: {env['date']}",
        f"- **machine**: {machine['system']}, {machine['cpu']}, {machine['cores']} cores"
        + (f" ({load})" if load else ""),
        f"- **python**: {env['python']}",
        f"- **commit**: {env['commit']}",
        f"- **took**: {seconds:.0f} s ({took})",
        "",
        *table(runs),
        "",
    ]
    lines += curves_section(runs, pictures or {})
    unmet = [(run.name, found) for run in runs for found in run.unmet()]
    if unmet:
        verdict = "they fail the run (`--strict`)" if strict else "reported, not a failure"
        lines += [f"## Targets not met: {verdict}", ""]
        for name, found in unmet:
            value = found["ratio"] if found["target"]["on"] == "ratio" else found["plugyard"]
            on_ratio = found["target"]["on"] == "ratio"
            shown = ratio_text(value) if on_ratio else f"{number(value)} {found['unit']}"
            lines.append(
                f"- {name}, {found['label']}: {shown}, target {target_text(found)}".rstrip()
            )
        lines.append("")
    elif all(run.ok for run in runs):
        lines += ["Every target was met.", ""]
    failed = [run for run in runs if not run.ok]
    if failed:
        lines += ["## Failed benchmarks", ""]
        for run in failed:
            lines += [f"### {run.name}", "", f"{run.error} ({run.seconds:.1f} s).", ""]
            if run.stderr_tail:
                lines += [
                    f"The end of its {run.tail_of}:",
                    "",
                    "```text",
                    run.stderr_tail,
                    "```",
                    "",
                ]
            else:
                lines += ["It printed nothing on stderr.", ""]
    return "\n".join(lines)


def as_json(env: dict[str, Any], runs: Sequence[Run], seconds: float) -> dict[str, Any]:
    return {
        **env,
        "seconds": round(seconds, 1),
        "benchmarks": [
            {
                "name": run.name,
                "status": "ok" if run.ok else "failed",
                "seconds": round(run.seconds, 1),
                "error": run.error,
                "stderr_tail": run.stderr_tail or None,
                "report": run.report,
            }
            for run in runs
        ],
        "failed": [run.name for run in runs if not run.ok],
        "unmet": [{"bench": run.name, **found} for run in runs for found in run.unmet()],
    }


def draw_curves(
    runs: Sequence[Run], folder: Path | None, output: Path
) -> dict[tuple[str, str], str]:
    """Draw every curve into ``folder``; each picture's path as ``output`` links to it."""
    found_curves = all_curves(runs)
    if folder is None or not found_curves:
        return {}
    sys.path.insert(0, str(HERE))
    try:
        import _plots
    finally:
        sys.path.remove(str(HERE))
    if not _plots.available():
        print("run_all: matplotlib is not installed: no pictures drawn", file=sys.stderr)
        return {}
    pictures = {}
    base = output.resolve().parent
    for (bench, found), path in zip(found_curves, _plots.draw(found_curves, folder), strict=True):
        pictures[(bench, found["name"])] = os.path.relpath(path.resolve(), base)
    print(f"run_all: drew {len(pictures)} curve(s) in {folder}", file=sys.stderr)
    return pictures


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, write the table, and say through the exit status how it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run this benchmark only (bench_pod or pod); repeatable",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="PATH",
        help="where to write the Markdown (default: benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the Markdown"
    )
    parser.add_argument("--strict", action="store_true", help="an unmet target fails the run")
    parser.add_argument(
        "--figures",
        type=Path,
        metavar="DIR",
        help="draw the curves as PNGs here (default: benchmarks/figures on a full run; "
        "a quick run draws none unless given this)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="limit for each benchmark (default: 300 with --quick, 1800 without)",
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    timeout = args.timeout if args.timeout is not None else TIMEOUTS[mode]
    if timeout <= 0:
        parser.error(f"--timeout: expected a positive number of seconds, got {timeout:g}")
    known = discover(HERE)
    try:
        chosen = select(known, args.only)
    except ValueError as exc:
        parser.error(str(exc))
    if not chosen:
        parser.error(f"no bench_*.py in {HERE}")

    env = environment(mode)
    started = time.perf_counter()
    runs = []
    for index, (name, script) in enumerate(chosen.items(), 1):
        print(f"[{index}/{len(chosen)}] {name} ({mode}) ...", file=sys.stderr, flush=True)
        run = run_benchmark(name, script, quick=args.quick, timeout=timeout)
        state = "ok" if run.ok else f"FAILED: {run.error}"
        missed = f", {len(run.unmet())} target(s) not met" if run.unmet() else ""
        print(f"      {state}{missed} ({run.seconds:.1f} s)", file=sys.stderr, flush=True)
        runs.append(run)
    seconds = time.perf_counter() - started
    env["machine"]["load_average_at_end"] = load_average()

    folder = args.figures if args.figures is not None else (None if args.quick else DEFAULT_FIGURES)
    pictures = draw_curves(runs, folder, args.output)
    text = markdown(env, runs, seconds, args.strict, pictures)
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"run_all: cannot write --output {args.output}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(as_json(env, runs, seconds)) if args.json else text)

    failed = [run.name for run in runs if not run.ok]
    unmet = sum(len(run.unmet()) for run in runs)
    print(
        f"run_all: {len(runs)} benchmark(s) in {seconds:.0f} s, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + f", {unmet} target(s) not met; wrote {args.output}",
        file=sys.stderr,
    )
    return 1 if failed or (args.strict and unmet) else 0


if __name__ == "__main__":
    sys.exit(main())

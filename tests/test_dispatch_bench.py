"""A quick run of the dispatch benchmark, so that it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dispatch.py"


def test_dispatch_benchmark_runs_and_reports_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    report = json.loads(done.stdout)
    cases = report["cases"]
    for n in (1, 5, 20):
        assert cases[f"pluggy_{n}_impls"]["median"] > 0
        assert cases[f"acall_isolate_{n}_impls"]["median"] > 0
    assert report["target_ratio"] == 2.0
    assert cases["first_event_after_start"]["median"] > 0
    names = {f["name"] for f in report["figures"]}
    assert {"first_event_after_start", "plugyard_help_vs_python_c_pass"} <= names

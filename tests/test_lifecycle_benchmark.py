"""A quick smoke run of benchmarks/bench_lifecycle.py (the figures themselves are not asserted
here; the full run checks its targets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lifecycle.py"


def test_the_benchmark_runs_quick_and_reports_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.splitlines()[0])
    assert figures["instances"] == 112
    assert figures["operations"] == 660
    assert figures["ops_per_s"] > 0
    assert "overhead_us_per_op" in figures
    assert done.stdout.splitlines()[-1] == "targets met"

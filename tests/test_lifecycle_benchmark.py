"""A quick smoke run of benchmarks/bench_lifecycle.py: four sizes on each store, the issue's
targets declared, curves beside the raw anchors (the figures themselves are not asserted here;
a full run on a quiet machine checks its targets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lifecycle.py"


@pytest.mark.timeout(240)
def test_the_benchmark_runs_quick_and_reports_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["sizes"] == [32, 63, 125, 249]
    sqlite_runs = report["runs"]["sqlite"]
    # 5 operations per instance, one more per leaf (its depends_on preconfigure)
    assert [run["instances"] for run in sqlite_runs] == report["sizes"]
    assert all(run["operations"] > 5 * run["instances"] for run in sqlite_runs)
    assert report["ops_per_s"] > 0
    pg_runs = report["runs"]["postgresql"]
    if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
        assert [run["instances"] for run in pg_runs] == report["sizes"]
    targets = {found["name"]: found["target"] for found in report["figures"] if found["target"]}
    assert targets["overhead_per_op"] == {"on": "plugyard", "op": "<=", "limit": 50.0}
    curves = {found["name"]: found for found in report["curves"]}
    assert set(curves) == {"install", "overhead_per_op"}
    for found in curves.values():
        assert any(line["raw"] for line in found["series"])
        assert all(len(line["points"]) == 4 for line in found["series"])

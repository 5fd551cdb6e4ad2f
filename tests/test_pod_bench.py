"""A quick smoke run of the pod benchmark: it runs, measures every case, prints the ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pod.py"


@pytest.mark.timeout(180)
def test_bench_pod_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=170
    )
    assert result.returncode == 0, result.stderr
    assert "direct bulk / raw sqlite3" in result.stdout and "launch / import ratio" in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary["rates"]) == {
        "raw_sqlite3_executemany",
        "direct_bulk",
        "direct_single",
        "http_bulk",
        "http_single",
    }
    assert all(rate > 0 for rate in summary["rates"].values())
    targets = {found["name"]: found["target"] for found in summary["figures"] if found["target"]}
    assert targets == {
        "direct_bulk_vs_raw_sqlite3": {"on": "ratio", "op": ">=", "limit": 0.5},
        "launch_vs_import": {"on": "ratio", "op": "<=", "limit": 1.5},
    }

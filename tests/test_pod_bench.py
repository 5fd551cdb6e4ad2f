"""A quick smoke run of the pod benchmark: every case measured at every size, curves beside
their raw anchors, and the issue's targets declared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pod.py"


@pytest.mark.timeout(240)
def test_bench_pod_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=230
    )
    assert result.returncode == 0, result.stderr
    assert "PodClient over HTTP, single creates" in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    sizes = summary["sizes"]
    assert len(sizes) >= 4
    for case in ("raw_sqlite3", "direct_bulk", "http_bulk"):
        assert [int(size) for size in summary["rates"][case]] == sizes, case
        assert all(rate > 0 for rate in summary["rates"][case].values()), case
    names = {found["name"] for found in summary["figures"]}
    pg_here = "pg_bulk" in summary["rates"]
    if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
        assert pg_here, "PostgreSQL is required but the benchmark skipped it"
    targets = {found["name"]: found["target"] for found in summary["figures"] if found["target"]}
    assert targets == {
        "direct_bulk_vs_raw_sqlite3": {"on": "ratio", "op": ">=", "limit": 0.7},
        "http_bulk_vs_raw_sqlite3": {"on": "ratio", "op": ">=", "limit": 0.4},
        "http_single_creates": {"on": "plugyard", "op": ">", "limit": 3000.0},
        "pg_bulk_vs_raw_executemany": {"on": "ratio", "op": ">=", "limit": 0.7},
        "launch_vs_import": {"on": "ratio", "op": "<=", "limit": 1.5},
    }
    curves = {found["name"]: found for found in summary["curves"]}
    assert set(curves) == ({"bulk_sqlite", "bulk_postgresql"} if pg_here else {"bulk_sqlite"})
    for found in curves.values():
        assert any(line["raw"] for line in found["series"])
        assert all([p[0] for p in line["points"]] == sizes for line in found["series"])
    if pg_here:
        assert {"pg_bulk_vs_raw_executemany", "pg_bulk_vs_raw_copy"} <= names

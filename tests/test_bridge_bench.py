"""A smoke run of benchmarks/bench_bridge.py: both sides measured, the ratio and target printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from plugyard.sdk.testing import require_service

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_bridge.py"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_bridge_quick_measures_both_sides() -> None:
    require_service("redis")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for side in ("raw", "bridge"):
        assert report[side]["events"] == 300
        assert 0 < report[side]["p50_ms"] <= report[side]["p99_ms"] <= report[side]["max_ms"]
    targets = {found["name"]: found["target"] for found in report["figures"]}
    assert targets == {
        "p99_latency_across_hosts": {"on": "plugyard", "op": "<", "limit": 20.0},
        "p50_latency_across_hosts": None,
    }
    assert report["figures"][0]["ratio"] > 0

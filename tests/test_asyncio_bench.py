"""A smoke run of benchmarks/bench_events.py: it runs and reports every case (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_events.py"


@pytest.mark.timeout(120)
def test_bench_events_quick_smoke_run() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(report["cases"]) == {"1", "10"}
    for case in report["cases"].values():
        assert case["gather_events_s"] > 0
        assert case["emit_events_s"] > 0
        assert case["emit_nopublish_events_s"] > 0
    assert report["latency_10_plugins"]["samples"] > 0
    assert set(report["targets"]) == {"emit_vs_gather_at_10 >= 0.5", "p99_ms_at_half_rate < 5"}
    targets = {found["name"]: found["target"] for found in report["figures"] if found["target"]}
    assert targets == {
        "emit_vs_gather_10_plugins": {"on": "ratio", "op": ">=", "limit": 0.5},
        "p99_latency_10_plugins": {"on": "plugyard", "op": "<", "limit": 5.0},
    }

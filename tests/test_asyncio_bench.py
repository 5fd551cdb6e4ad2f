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
    assert set(report["cases"]) == {"1", "10", "50", "100"}
    for case in report["cases"].values():
        assert case["queue_events_s"] > 0
        assert case["emit_events_s"] > 0
        assert case["emit_nopublish_events_s"] > 0
    assert set(report["latency"]) == {"10", "100"}
    for latency in report["latency"].values():
        assert latency["samples"] > 0
    targets = {found["name"]: found["target"] for found in report["figures"] if found["target"]}
    emit = {"on": "ratio", "op": ">=", "limit": 0.7}
    p99 = {"on": "plugyard", "op": "<", "limit": 2.0}
    assert targets == {
        "emit_vs_queue_10_plugins": emit,
        "emit_vs_queue_100_plugins": emit,
        "p99_latency_10_plugins": p99,
        "p99_latency_100_plugins": p99,
    }
    (curve,) = report["curves"]
    ours, raw = curve["series"]
    assert [raw["raw"], ours["raw"]] == [True, False]
    for line in (ours, raw):
        assert [x for x, _ in line["points"]] == [1, 10, 50, 100]
        assert all(y > 0 for _, y in line["points"])

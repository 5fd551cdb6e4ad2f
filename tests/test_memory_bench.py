"""A quick smoke run of benchmarks/bench_memory.py: the example host starts with every
model's plugin and its subscriber process, and a flood through a slow subscriber stays
bounded by the event queue, its drops counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_memory.py"


@pytest.mark.timeout(240)
def test_bench_memory_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"hello_hooks", "logger", "gwexample", "dog", "background_plugin_example"} <= set(
        report["plugins"]
    )
    assert report["subscribers"] >= 1
    flood = report["flood"]
    # every event is handled, still queued, or dropped and counted: nothing vanishes
    assert flood["handled"] + flood["pending"] + flood["dropped"] == flood["published"]
    assert flood["pending"] <= 10_000 and flood["dropped"] > 0
    figures = {found["name"]: found for found in report["figures"]}
    assert set(figures) == {"host_rss", "subscriber_rss", "flood_rss"}
    assert figures["host_rss"]["target"] == {"on": "ratio", "op": "<=", "limit": 1.3}
    assert all(found["plugyard"] > 0 and found["raw"] > 0 for found in figures.values())

"""A smoke run of benchmarks/bench_celery.py (the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_bench_quick_prints_ratios_and_targets() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_celery.py"),
            "--quick",
            "--setups",
            "embedded",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )
    result = json.loads(out.stdout)
    embedded = result["setups"]["embedded"]
    assert embedded["plain_celery"]["throughput_tasks_per_s"] > 0
    assert embedded["plugyard"]["latency_ms"] > 0
    assert set(embedded["ratio"]) == {"latency", "throughput"}
    assert "embedded" in result["summary"]
    targets = {found["name"]: found["target"] for found in result["figures"]}
    assert targets == {
        "latency_embedded": {"on": "ratio", "op": "<=", "limit": 1.1},
        "throughput_embedded": {"on": "ratio", "op": ">=", "limit": 0.9},
    }

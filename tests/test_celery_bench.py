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
def test_bench_quick_prints_ratios() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_celery.py"),
            "--quick",
            "--setups",
            "embedded",
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    embedded = next(line for line in lines if line.get("setup") == "embedded")
    assert embedded["plain_celery"]["throughput_tasks_per_s"] > 0
    assert embedded["plugyard"]["latency_ms"] > 0
    assert set(embedded["ratio"]) == {"latency", "throughput"}
    assert "embedded" in lines[-1]["summary"]

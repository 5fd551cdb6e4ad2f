"""A smoke run of benchmarks/bench_http.py: it runs and reports both ways (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_http.py"


@pytest.mark.timeout(180)
def test_bench_http_quick_smoke_run() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=170,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for way in ("http", "asgi"):
        assert report[way]["off_requests_s"] > 0
        assert report[way]["on_requests_s"] > 0
    assert set(report["targets"]) == {"http on_vs_off >= 0.95"}
    targets = {found["name"]: found["target"] for found in report["figures"] if found["target"]}
    assert targets == {"request_monitoring_http": {"on": "ratio", "op": ">=", "limit": 0.95}}

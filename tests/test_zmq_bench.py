"""A seconds-long smoke run of benchmarks/bench_zmq.py (the numbers are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_zmq.py"


def test_the_zmq_benchmark_runs_quickly_and_delivers_everything() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["plugyard_received"] == result["events"], "lossless delivery"
    assert result["plugyard_events_per_s"] > 0 and result["raw_pyzmq_events_per_s"] > 0
    assert result["plugyard_commands_per_s"] > 0
    targets = {found["name"]: found["target"] for found in result["figures"]}
    assert targets["events_vs_raw_pyzmq"] == {"on": "ratio", "op": ">=", "limit": 0.5}
    assert targets["events_vs_circus"] == {"on": "ratio", "op": ">", "limit": 1.0}

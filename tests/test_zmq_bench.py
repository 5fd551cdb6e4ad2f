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
    for size, case in result["sizes"].items():
        expected = result["events"] if int(size) == 190 else result["events"] // 2
        assert case["plugyard_received"] == expected, f"lossless delivery at {size} bytes"
        assert case["plugyard_events_per_s"] > 0 and case["raw_pyzmq_events_per_s"] > 0
    assert len(result["sizes"]) >= 4
    assert result["plugyard_commands_per_s"] > 0
    targets = {found["name"]: found["target"] for found in result["figures"]}
    assert targets["events_vs_raw_pyzmq"] == {"on": "ratio", "op": ">=", "limit": 0.75}
    assert targets["events_vs_circus"] == {"on": "ratio", "op": ">", "limit": 1.0}
    assert targets["commands_vs_raw"] == {"on": "ratio", "op": ">=", "limit": 0.75}
    (curve,) = result["curves"]
    ours, raw = curve["series"]
    assert [raw["raw"], ours["raw"]] == [True, False]
    for line in (ours, raw):
        assert [x for x, _ in line["points"]] == [int(size) for size in result["sizes"]]
        assert all(y > 0 for _, y in line["points"])

"""A quick run of the dispatch benchmark, so that it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dispatch.py"


def test_dispatch_benchmark_runs_and_reports_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    report = json.loads(done.stdout)
    cases = report["cases"]
    for n in (1, 5, 10, 20):
        assert cases[f"pluggy_{n}_impls"]["median"] > 0
        assert cases[f"acall_isolate_{n}_impls"]["median"] > 0
    assert report["target_ratios"] == {"1": 2.0, "5": 1.35, "20": 1.15}
    assert cases["first_event_after_start"]["median"] > 0
    names = {f["name"] for f in report["figures"]}
    assert {"first_event_after_start", "plugyard_help_vs_python_c_pass"} <= names
    assert cases["reload_pause"]["median"] > 0 and cases["fresh_import"]["median"] > 0
    assert "reload_pause" in names
    per_impl = next(f for f in report["figures"] if f["name"] == "per_impl_vs_pluggy")
    assert per_impl["unit"] == "ns/impl" and per_impl["target"]["limit"] == 1.15
    [curve] = report["curves"]
    assert [line["raw"] for line in curve["series"]] == [False, True]
    assert all([p[0] for p in line["points"]] == [1, 5, 10, 20] for line in curve["series"])

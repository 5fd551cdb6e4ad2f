"""A quick smoke run of benchmarks/bench_discovery.py: generated installed plugins are found
and loaded by a real host and by ``plugyard plugins`` at four sizes, beside the raw scan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_discovery.py"


@pytest.mark.timeout(600)
def test_bench_discovery_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=590,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    sizes = report["sizes"]
    assert len(sizes) >= 4 and sizes == sorted(sizes)
    assert [int(size) for size in report["results_ms"]] == sizes
    for found in report["results_ms"].values():
        assert set(found) == {"host_start", "raw_scan_import", "plugins_cli", "raw_cli"}
        assert all(ms > 0 for ms in found.values())
    targets = {f["name"]: f["target"] for f in report["figures"] if f["target"]}
    assert targets == {
        "host_start_growth": {"on": "plugyard", "op": "<=", "limit": 1.5},
        "plugins_cli_growth": {"on": "plugyard", "op": "<=", "limit": 1.5},
        "plugins_cli_all_adapters": {"on": "plugyard", "op": "<", "limit": 250.0},
    }
    assert {c["name"] for c in report["curves"]} == {"host_start", "plugins_cli"}
    for found in report["curves"]:
        assert [line["raw"] for line in found["series"]] == [False, True]
        assert all([p[0] for p in line["points"]] == sizes for line in found["series"])


def test_generated_distributions_are_installed_plugins(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_discovery
    finally:
        sys.path.remove(str(BENCH.parent))
    bench_discovery.install_plugins(tmp_path, 3)
    from importlib.metadata import distributions

    found = {
        ep.name: ep.value
        for dist in distributions(path=[str(tmp_path)])
        for ep in dist.entry_points
        if ep.group == "plugyard.plugins"
    }
    assert found == {f"bench_plugin_{i:04d}": f"bench_plugin_{i:04d}:Plugin" for i in range(3)}

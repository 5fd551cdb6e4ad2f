"""A smoke run of benchmarks/bench_agents.py (the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from plugyard.sdk.testing import require_service

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_agents_quick_reports_each_worker_count_beside_the_local_executor() -> None:
    for service in ("postgresql", "rabbitmq", "redis"):
        require_service(service)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_agents.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=590,
        check=True,
        cwd=ROOT / "benchmarks",
    )
    result = json.loads(out.stdout)
    assert set(result["agents_ops_per_s"]) == {"1", "2", "4"}
    assert result["local_ops_per_s"] > 0
    names = [found["name"] for found in result["figures"]]
    assert names == ["install_1_workers", "install_2_workers", "install_4_workers"]
    for found in result["figures"]:
        assert found["plugyard"] > 0 and found["raw"] == result["local_ops_per_s"]
        assert found["ratio"] == round(found["plugyard"] / found["raw"], 3)

"""benchmarks/run_all.py: every benchmark in one run, one Markdown table, honest exit status.

One test runs two real benchmarks in quick mode; the others run the real script on a folder of
stand-in benchmarks that fail, time out or miss a target on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL = ROOT / "benchmarks" / "run_all.py"
HEADER = "| benchmark | figure | plugyard | raw building block | ratio | target | met |"

pytestmark = pytest.mark.timeout(180)


def run_all(*args: str, script: Path = RUN_ALL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def table_rows(markdown: str) -> list[list[str]]:
    """The table's body rows, split into cells (header and separator left out)."""
    lines = markdown.splitlines()
    start = lines.index(HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_a_quick_run_of_two_benchmarks_writes_their_rows(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    only = ["--only", "dispatch", "--only", "bench_lifecycle"]
    done = run_all("--quick", *only, "--json", "--output", str(output))
    assert done.returncode == 0, done.stderr
    text = output.read_text(encoding="utf-8")
    assert "- **mode**: quick" in text
    assert f"{os.cpu_count()} cores" in text
    assert HEADER in text
    rows = table_rows(text)
    assert all(len(row) == 7 for row in rows), rows
    assert {row[0] for row in rows} == {"bench_dispatch", "bench_lifecycle"}
    dispatch = [row for row in rows if row[0] == "bench_dispatch" and "host.call_hook" in row[1]]
    assert len(dispatch) == 4  # 1, 5 and 20 implementations, and the cost of each
    for row, target in zip(dispatch, ["<= 2x", "<= 1.35x", "<= 1.15x", "<= 1.15x"], strict=True):
        assert row[2].endswith(("ns/call", "ns/impl")) and "(raw pluggy)" in row[3]
        assert row[4].endswith("x") and row[5] == target and row[6] in ("yes", "**no**")
    overhead = next(row for row in rows if row[1] == "engine overhead per operation")
    assert overhead[5] == "<= 50 µs" and overhead[6] in ("yes", "**no**")
    # both report curves; a quick run draws none unless given --figures
    assert "## Curves" in text and "![" not in text

    report = json.loads(done.stdout)
    assert report["mode"] == "quick" and report["failed"] == []
    assert [bench["name"] for bench in report["benchmarks"]] == [
        "bench_dispatch",
        "bench_lifecycle",
    ]
    assert all(bench["status"] == "ok" for bench in report["benchmarks"])
    assert report["benchmarks"][0]["report"]["target_ratios"]["20"] == 1.15


CURVED = """
import json, sys
fig = {"name": "rate", "label": "rate at 1,000", "unit": "items/s", "plugyard": 50.0,
       "raw": 100.0, "raw_label": "raw", "ratio": 0.5, "target": None, "met": None}
curve = {"name": "rate", "title": "rate against size", "x_label": "items", "unit": "items/s",
         "log_x": True,
         "series": [{"label": "plugyard side", "raw": False,
                     "points": [[10, 5.0], [100, 40.0], [1000, 50.0], [10000, 55.0]]},
                    {"label": "raw side", "raw": True,
                     "points": [[10, 9.0], [100, 80.0], [1000, 100.0], [10000, 120.0]]}]}
print(json.dumps({"bench": "bench_curved", "figures": [fig], "curves": [curve]}))
"""


def test_curves_are_drawn_as_pictures_and_listed_with_their_points(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    shutil.copy(RUN_ALL, folder / "run_all.py")
    shutil.copy(RUN_ALL.with_name("_plots.py"), folder / "_plots.py")
    (folder / "bench_curved.py").write_text(dedent(CURVED))
    output, pictures = tmp_path / "out" / "results.md", tmp_path / "pictures"
    done = run_all(
        "--quick",
        "--figures",
        str(pictures),
        "--output",
        str(output),
        script=folder / "run_all.py",
    )
    assert done.returncode == 0, done.stderr
    png = pictures / "bench_curved-rate.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = output.read_text(encoding="utf-8")
    assert "![bench_curved: rate against size](../pictures/bench_curved-rate.png)" in text
    assert "| items | plugyard side | raw side (raw) |" in text
    assert "| 1,000 | 50.0 | 100 |" in text


def test_an_unknown_name_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    done = run_all("--quick", "--only", "nosuch", "--output", str(output))
    assert done.returncode == 2
    assert "--only 'nosuch': no bench_nosuch.py" in done.stderr
    assert "bench_dispatch" in done.stderr  # the known names are listed
    assert not output.exists()


FINE = """
import json, sys
figure = {"name": "speed", "label": "fine speed", "unit": "ops/s", "plugyard": 40.0,
          "raw": 100.0, "raw_label": "raw thing", "ratio": 0.4,
          "target": {"on": "ratio", "op": ">=", "limit": 0.5}, "met": False}
remote = {"name": "remote", "label": "fine remote", "skipped": "no server",
          "target": {"on": "ratio", "op": ">", "limit": 1.0}, "met": None}
print("warming up")
print(json.dumps({"bench": "bench_fine", "mode": "quick" if "--quick" in sys.argv else "full",
                  "figures": [figure, remote]}))
"""

BROKEN = """
import sys
print("about to measure", file=sys.stderr)
raise RuntimeError("the raw building block is missing")
"""

SLOW = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(sys.argv[0] + ".child", "w") as f:
    f.write(str(child.pid))
time.sleep(120)
"""

SILENT = """
print("no JSON here")
"""


@pytest.fixture
def stands(tmp_path: Path) -> Path:
    """run_all.py copied into a folder of stand-in benchmarks, one per way a run can go."""
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    shutil.copy(RUN_ALL, folder / "run_all.py")
    for name, source in {"fine": FINE, "broken": BROKEN, "slow": SLOW, "silent": SILENT}.items():
        (folder / f"bench_{name}.py").write_text(dedent(source))
    return folder


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for its reaper counts as ended)."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if not Path("/proc/self").exists():
                os.kill(pid, 0)  # no /proc: a zombie would count as alive here
            elif "\nState:\tZ" in status.read_text():
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.1)
    return False


def test_failures_get_failed_rows_the_others_still_run_and_the_exit_is_1(stands: Path) -> None:
    output = stands / "out" / "results.md"
    started = time.monotonic()
    script = stands / "run_all.py"
    done = run_all("--quick", "--timeout", "3", "--output", str(output), script=script)
    assert time.monotonic() - started < 60
    assert done.returncode == 1
    rows = table_rows(output.read_text(encoding="utf-8"))
    names = ["bench_broken", "bench_fine", "bench_fine", "bench_silent", "bench_slow"]
    assert [row[0] for row in rows] == names  # every benchmark ran, in name order
    failed = {row[0]: row[1:] for row in rows if row[0] != "bench_fine"}
    assert failed == {
        "bench_broken": [
            "**failed**: exit status 1: RuntimeError: the raw building block is missing",
            *[""] * 4,
            "**failed**",
        ],
        "bench_silent": ["**failed**: printed no JSON object on stdout", *[""] * 4, "**failed**"],
        "bench_slow": ["**failed**: timed out after 3 s", *[""] * 4, "**failed**"],
    }
    assert [row[1:] for row in rows if row[0] == "bench_fine"] == [
        ["fine speed", "40.0 ops/s", "100 ops/s (raw thing)", "0.40x", ">= 0.5x", "**no**"],
        ["fine remote", "", "", "", "> 1x", "skipped: no server"],
    ]
    text = output.read_text(encoding="utf-8")
    assert "### bench_broken" in text and "about to measure" in text  # the stderr tail
    assert "- bench_fine, fine speed: 0.40x, target >= 0.5x" in text
    assert "bench_broken, bench_silent, bench_slow" in done.stderr
    # the timed-out benchmark's own child process was stopped with it
    child = int((stands / "bench_slow.py.child").read_text())
    assert _gone(child), f"process {child} outlived its timed-out benchmark"


def test_an_unmet_target_fails_the_run_only_with_strict(stands: Path) -> None:
    script = stands / "run_all.py"
    for mode in ([], ["--quick"]):
        output = stands / f"results{len(mode)}.md"
        relaxed = run_all(*mode, "--only", "fine", "--output", str(output), script=script)
        assert relaxed.returncode == 0, relaxed.stderr
        assert "## Targets not met: reported, not a failure" in output.read_text()
        strict = run_all(
            *mode, "--only", "fine", "--strict", "--output", str(output), script=script
        )
        assert strict.returncode == 1
        assert "## Targets not met: they fail the run (`--strict`)" in output.read_text()

"""docs/embedding.md's first example, run as written: it must give its documented output
every time, not only when the event dispatcher happens to be quick."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "embedding.md"
RUNS = 20

DRIVER = """
import runpy, sys
for run in range({runs}):
    print(f"-- run {{run}}", flush=True)
    runpy.run_path("example.py", run_name="__main__")
"""


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_first_example_gives_its_documented_output_every_time(tmp_path: Path) -> None:
    text = PAGE.read_text(encoding="utf-8")
    (config,) = _blocks(text, "toml")[:1]
    plugin, example = _blocks(text, "python")[:2]
    assert plugin.startswith("# plugins/audit.py")
    (tmp_path / "plugyard.toml").write_text(config)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "audit.py").write_text(plugin)
    (tmp_path / "example.py").write_text(example)
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER.format(runs=RUNS)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    env |= {"TMPDIR": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}
    (tmp_path / "xdg").mkdir(mode=0o700)
    done = subprocess.run(
        [sys.executable, "driver.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = done.stdout.split("-- run ")[1:]
    assert len(runs) == RUNS
    for output in runs:
        lines = output.splitlines()[1:]
        assert lines[0].startswith("{'statuses': {") and "'audit': 'started'" in lines[0], lines
        assert lines[1] == "{'orders': 1}", lines

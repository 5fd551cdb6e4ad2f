"""The shared SQLite set-up holds up when many processes open one new database at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from plugyard.host.sqlite import connect

_WORKER = """
import sqlite3, sys, time
from pathlib import Path
from plugyard.host.sqlite import connect
ready, go = Path(sys.argv[3]), Path(sys.argv[4])
ready.touch()
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
errors = 0
for _ in range(int(sys.argv[2])):
    try:
        conn = connect(Path(sys.argv[1]))
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.close()
    except sqlite3.OperationalError as exc:
        errors += 1
        print(exc, file=sys.stderr)
sys.exit(1 if errors else 0)
"""


def test_processes_opening_one_new_database_at_once_never_see_locked(tmp_path: Path) -> None:
    # While one process creates or recovers the write-ahead log, SQLite answers "database is
    # locked" to another's journal-mode statement without waiting: connect() must wait.
    # The workers start together (each reports ready, then waits for the go file).
    workers, rounds = 8, 40
    for attempt in range(3):
        path = tmp_path / f"shared-{attempt}.sqlite"
        go = tmp_path / f"go-{attempt}"
        ready = [tmp_path / f"ready-{attempt}-{i}" for i in range(workers)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(path), str(rounds), str(mark), str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for mark in ready
        ]
        deadline = time.monotonic() + 120
        while not all(mark.exists() for mark in ready):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.01)
        go.touch()
        failures = []
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            if proc.returncode:
                failures.append(err)
        assert failures == []
        conn = connect(path)
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == workers * rounds
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_connect_sets_the_shared_pragmas(tmp_path: Path) -> None:
    conn = connect(tmp_path / "sub" / "one.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    conn.close()

"""Owner marks: telling stored work of a dead process from work still under way."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from plugyard.host import owner_mark, owner_state


def test_a_mark_of_this_process_is_recognised() -> None:
    assert owner_state(owner_mark()) == "this process"


def test_a_mark_of_a_live_process_is_alive_and_of_an_ended_one_gone() -> None:
    script = "from plugyard.host import owner_mark; print(owner_mark(), flush=True); input()"
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdin is not None
    mark = child.stdout.readline().strip()
    assert owner_state(mark) == "alive"
    child.stdin.close()
    child.wait(30)
    child.stdout.close()
    assert owner_state(mark) == "gone"


def test_an_earlier_process_with_this_pid_is_gone() -> None:
    assert owner_state(f"{socket.gethostname()}/{os.getpid()}/0123456789ab") == "gone"


def test_marks_from_elsewhere_or_none_are_unknown() -> None:
    assert owner_state(None) == "unknown"
    assert owner_state("") == "unknown"
    assert owner_state(f"not-{socket.gethostname()}/1/x") == "unknown"
    assert owner_state(f"{socket.gethostname()}/nope/x") == "unknown"


def test_a_killed_process_not_yet_reaped_does_not_exist() -> None:
    """A zombie (killed, its exit status not yet collected) is gone for every check of
    stored work: a container's init can take long to reap an orphan."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from plugyard.host import process_exists

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_exists(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 30
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert not process_exists(child.pid)  # kill(pid, 0) still finds it
        assert owner_state(f"{socket.gethostname()}/{child.pid}/token") == "gone"
    finally:
        child.kill()
        child.wait()

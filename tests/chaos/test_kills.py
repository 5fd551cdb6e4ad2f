"""Chaos: kill the host and a subscriber in the middle of their work, then check that nothing
stored is lost or duplicated and that the host answers. (A worker killed with SIGKILL while
it runs tasks is tests/test_celery_worker_lost.py, on the embedded broker and on Redis.)"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _chaos import ChaosHost, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def ticks(chaos: ChaosHost) -> list[int]:
    """The ``n`` of every Tick item stored in the pod."""
    from plugyard.adapters.pod import Store

    store = Store(f"sqlite:///{chaos.folder / 'pod.db'}")
    try:
        return [row.properties["n"] for row in store.search({"type": "Tick"})]
    finally:
        store.close()


def test_a_host_killed_mid_run_keeps_every_item_once_and_the_next_host_ends_the_run(
    chaos: ChaosHost,
) -> None:
    chaos.start()
    (chaos.folder / "ticker.json").write_text(
        json.dumps({"plugin_module": "chaos_plugins", "plugin_name": "Ticker"})
    )
    launched = chaos.cli("pod", "launch", "--metadata", "ticker.json", "--json")
    assert launched.returncode == 0, launched.stderr
    run_id = json.loads(launched.stdout)["id"]
    until("the run wrote 50 items", lambda: len(ticks(chaos)) >= 50)
    chaos.kill()
    written = sorted(ticks(chaos))
    assert written == list(range(len(written))), "items lost or written twice"

    chaos.start()
    assert chaos.call("status")["status"] == "ok"
    shown = json.loads(chaos.cli("pod", "status", run_id, "--json").stdout)
    assert shown["status"] == "error"
    assert shown["error"].startswith("host died:")
    assert sorted(ticks(chaos)) == written, "the items of the killed run changed"
    assert chaos.stop() == 0


def test_a_killed_subscriber_is_restarted_and_receives_what_is_published_after(
    chaos: ChaosHost,
) -> None:
    chaos.start()
    first = until("the subscriber started", lambda: [
        line["init"] for line in chaos.journal_lines() if "init" in line
    ])[0]  # fmt: skip
    os.kill(first, signal.SIGKILL)
    second = until(
        "a new subscriber process",
        lambda: [line["init"] for line in chaos.journal_lines() if "init" in line][1:],
    )[0]
    # its subscription is live once it has received its own ready event (sent after it)
    until(
        "the new subscriber's ready event",
        lambda: [
            line
            for line in chaos.journal_lines()
            if line.get("topic") == "subscriber.journal.ready" and line.get("pid") == second
        ],
        timeout=60,
    )
    published = []
    for n in range(20):
        reply = chaos.call("publish", topic="app.after", data={"n": n})
        published.append(reply["event"]["seq"])

    def after() -> list[int]:
        return [line["seq"] for line in chaos.journal_lines() if line.get("topic") == "app.after"]

    until("the new subscriber got all 20 events", lambda: len(after()) >= 20)
    assert after() == published, "every event once, in order"
    stats = chaos.call("stats", name="journal")
    assert stats["info"]["restarts"] >= 1
    assert chaos.stop() == 0

"""The pytest plugin users get with plugyard-sdk: the plugyard_host fixture and recorders."""

from __future__ import annotations

from typing import Any

import pytest

from plugyard.host.testing import HostRunner
from plugyard.sdk import hookimpl
from plugyard.sdk.testing import EventRecorder


class Greeter:
    name = "greeter"

    @hookimpl
    def plugyard_startup(self, host: Any) -> None:
        host.publish("greeter.ready", who="tests")


@pytest.mark.plugyard(plugins=[Greeter()], config={"host": {"name": "fixture"}})
def test_the_fixture_starts_a_host_with_the_marked_plugins(plugyard_host: HostRunner) -> None:
    assert plugyard_host.host.name == "fixture"
    event = plugyard_host.events.wait_for("greeter.ready")[0]
    assert event.data == {"who": "tests"}
    assert plugyard_host.run_command("status", name="greeter")["status"] == "started"
    plugyard_host.publish("app.ping", n=1)
    assert plugyard_host.events.wait_for("app.ping")[0].data == {"n": 1}


def test_the_fixture_without_a_marker_gives_an_empty_host(plugyard_host: HostRunner) -> None:
    assert plugyard_host.run_command("list") == {"plugins": []}


def test_wait_for_times_out_naming_what_arrived() -> None:
    recorder = EventRecorder()
    with pytest.raises(TimeoutError, match=r"matching 'never\.\*'; got 0"):
        recorder.wait_for("never.*", timeout=0.05)


def test_the_runner_stops_the_host_when_leaving() -> None:
    with HostRunner([Greeter()]) as runner:
        host = runner.host
        assert host.running
    assert not host.running

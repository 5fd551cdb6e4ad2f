"""The subscriber handshake carries the hook spec version: a subscriber written against a
version the host cannot serve is refused, and both sides say why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import zmq_host

from plugyard.host import PluginState
from plugyard.sdk import SPEC_VERSION, CommandError

REFUSAL = (
    f"subscriber 'future' was written against hook spec 2.0, but the host speaks {SPEC_VERSION}: "
    "a different major version"
)


async def test_a_subscriber_with_another_major_version_is_refused_on_both_sides(
    runtime_dir: Path, tmp_path: Path
) -> None:
    refused, fine = tmp_path / "refused.jsonl", tmp_path / "fine.jsonl"
    plugins = {
        "future": {"use": "zmq_test_plugins:FromTheFuture", "out": str(refused)},
        "current": {"use": "zmq_test_plugins:Recorder", "out": str(fine)},
    }
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        record = host.registry.get("future")
        assert record.state is PluginState.FAILED
        assert f"refused at the handshake: {REFUSAL}" in (record.error or ""), record.error
        assert host.registry.get("current").state is PluginState.STARTED
        assert host.processes.get("future").state.value == "stopped"
        output = "\n".join(host.processes.logs("future"))
        assert f"the host refused this plugin at the handshake: {REFUSAL}" in output
    lines = [json.loads(line) for line in refused.read_text().splitlines()]
    assert {"refused": REFUSAL} in lines


async def test_the_hello_command_answers_a_newer_minor_with_an_error(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(out)}}
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        assert host.registry.get("rec").state is PluginState.STARTED
        assert await host.run_command("zmq.hello", name="x", pid=1, spec=SPEC_VERSION) == {
            "name": "x"
        }
        major, minor = SPEC_VERSION.split(".")
        newer = f"{major}.{int(minor) + 1}"
        with pytest.raises(
            CommandError, match=f"'x' was written against hook spec {newer}, newer than the host's"
        ):
            await host.run_command("zmq.hello", name="x", pid=1, spec=newer)
        assert host.registry.get("rec").state is PluginState.STARTED

"""Circus-style ``[plugin:NAME]`` INI sections become plugyard subscriber plugins."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import event_topics, host_config, wait_until, zmq_host

from plugyard.adapters.zmq import IniError, adapter, read_circus_plugins
from plugyard.host import ConfigError, Host


def test_plugin_sections_are_read_with_string_options(tmp_path: Path) -> None:
    ini = tmp_path / "circus.ini"
    ini.write_text(
        "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n"
        "[watcher:web]\ncmd = sleep 1\n\n"
        "[plugin:logger]\nuse = myproject.plugins.Logger\nfilename = /var/log/circus.log\n"
        "Size = 3\n"
    )
    assert read_circus_plugins(ini) == {
        "logger": {
            "use": "myproject.plugins.Logger",
            "filename": "/var/log/circus.log",
            "Size": "3",
        }
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[plugin:x]\nfilename = a\n", r"\[plugin:x\]: 'use' is mandatory"),
        ("[plugin:]\nuse = a.B\n", "needs a name"),
        ("not ini at all", "not a valid INI file"),
    ],
)
def test_bad_ini_files_name_the_file_and_section(tmp_path: Path, text: str, message: str) -> None:
    ini = tmp_path / "bad.ini"
    ini.write_text(text)
    with pytest.raises(IniError, match=message) as info:
        read_circus_plugins(ini)
    assert str(ini) in str(info.value)


async def test_a_circus_config_file_adds_supervised_plugins(
    runtime_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    ini = tmp_path / "circus.ini"
    ini.write_text(f"[plugin:fromini]\nuse = zmq_test_plugins.Recorder\nout = {out}\n")
    async with zmq_host(runtime_dir, zmq={"circus_config": str(ini)}) as host:
        assert host.registry.get("fromini").state == "started"
        host.publish("app.ini")
        await wait_until(lambda: "app.ini" in event_topics(out), what="an event")


async def test_an_ini_plugin_may_not_shadow_a_configured_one(
    runtime_dir: Path, tmp_path: Path
) -> None:
    ini = tmp_path / "circus.ini"
    ini.write_text("[plugin:dup]\nuse = zmq_test_plugins.Recorder\n")
    config = host_config(
        runtime_dir,
        zmq={"circus_config": str(ini)},
        plugins={"dup": {"use": "zmq_test_plugins:Recorder", "out": "x"}},
    )
    host = Host(config, autoload=False, adapters=[adapter])
    with pytest.raises(ConfigError, match=r"\[plugin:dup\]: a plugin called 'dup' is already"):
        await host.load()

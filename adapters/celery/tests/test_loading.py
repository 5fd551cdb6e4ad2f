"""Loading task plugins and reading ``[celery]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.celery import CeleryService, adapter
from plugyard.host import ConfigError, Host


def _host(tmp_path: Path, plugins: dict[str, Any], **celery: Any) -> Host:
    config = {
        "host": {"runtime_dir": str(tmp_path)},
        "celery": {"embedded_worker": False, **celery},
        "plugins": plugins,
    }
    return Host(config, autoload=False, adapters=[adapter])


async def test_a_failing_plugin_is_recorded_and_the_others_load(tmp_path: Path) -> None:
    host = _host(
        tmp_path,
        {
            "sample": {"use": "celery_sample:SamplePlugin"},
            "bad_init": {"use": "celery_sample:BrokenInit"},
            "bad_imports": {"use": "celery_sample:BrokenImports"},
            "missing": {"use": "celery_sample:MissingModule"},
        },
    )
    async with host:
        records = {r.name: r for r in host.plugins}
        assert records["sample"].state == "started"
        assert records["sample"].model == "celery"
        for name, where in (
            ("bad_init", "BrokenInit.__init__ raised RuntimeError: no licence server"),
            ("bad_imports", "BrokenImports.task_imports raised KeyError"),
            ("missing", "importing task module 'celery_sample.not_there' raised"),
        ):
            assert records[name].state == "failed"
            assert where in (records[name].error or "")
            assert "Traceback (most recent call last)" in (records[name].error or "")
        assert "celery_sample.tasks.add" in CeleryService.of(host).registered()


async def test_plugin_options_reach_init_and_old_style_keys_are_renamed(tmp_path: Path) -> None:
    host = _host(tmp_path, {"sample": {"use": "celery_sample:SamplePlugin", "time_limit": 42}})
    async with host:
        assert CeleryService.of(host).app.conf.task_time_limit == 42
        assert CeleryService.of(host).app.config is CeleryService.of(host).app.conf


def test_task_modules_import_once(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    plugins = Path(__file__).parent / "plugins"

    script = f"""
import asyncio, sys
sys.path.insert(0, {str(plugins)!r})
from plugyard.adapters.celery import adapter
from plugyard.host import Host
async def main():
    for _ in range(2):
        config = {{"host": {{"runtime_dir": {str(tmp_path)!r}}},
                  "celery": {{"embedded_worker": False}},
                  "plugins": {{"a": {{"use": "celery_sample:SamplePlugin"}},
                              "b": {{"use": "celery_sample:SamplePlugin"}}}}}}
        async with Host(config, autoload=False, adapters=[adapter]):
            pass
asyncio.run(main())
"""
    log = tmp_path / "imports.log"
    env = {**os.environ, "CELERY_SAMPLE_IMPORTS": str(log)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert len(log.read_text().splitlines()) == 1


async def test_unknown_setting_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    host = _host(tmp_path, {}, broker_ulr="redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match=r"celery\.broker_ulr: .*did you mean 'broker_url'"):
        await host.load()


async def test_bad_plugyard_key_is_a_config_error(tmp_path: Path) -> None:
    host = _host(tmp_path, {}, cancel_timeout=-1)
    with pytest.raises(ConfigError, match=r"celery\.cancel_timeout"):
        await host.load()


def test_environment_overrides_the_broker(tmp_path: Path) -> None:
    from plugyard.adapters.celery._settings import read_settings
    from plugyard.host import Config

    config = Config(
        {"celery": {"broker_url": "redis://127.0.0.1:6379/1"}},
        environ={"PLUGYARD_CELERY__BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"},
    )
    settings = read_settings(
        config.raw_section("celery"), where="x", state_dir=tmp_path, config_error=ConfigError
    )
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.result_backend.startswith("plugyard+sqlite:///")


def test_embedded_defaults_live_in_the_state_folder(tmp_path: Path) -> None:
    from plugyard.adapters.celery._settings import read_settings

    settings = read_settings({}, where="x", state_dir=tmp_path, config_error=ConfigError)
    assert settings.broker_url == f"plugyard+sqlite:///{tmp_path}/celery-broker.sqlite"
    assert settings.celery["broker_transport_options"]["polling_interval"] == 0.002
    assert settings.job_store_url == f"sqlite:///{tmp_path}/celery-jobs.sqlite"


def test_sdk_stays_light_and_adapter_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, plugyard.sdk, plugyard.sdk.tasks, plugyard.adapters.celery;"
        "print('celery' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Configuration: files, validation errors that name file and key, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from plugyard.host import Config, ConfigError, Host
from plugyard.host._config import env_overrides
from plugyard.sdk import hookimpl


def write(tmp_path: Path, text: str, name: str = "plugyard.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_plugyard_toml_is_read_and_relative_paths_resolve_next_to_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[host]\nname = "shop"\nplugin_dirs = ["plugins"]\nhook_timeout = 2\n')
    config = Config.from_file(path)
    assert config.host.name == "shop"
    assert config.host.plugin_dirs == [tmp_path / "plugins"]
    assert config.host.hook_timeout == 2.0
    assert config.where == str(path)


def test_tool_plugyard_in_a_pyproject(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[project]\nname = "x"\n[tool.plugyard.host]\nname = "py"\n', "pyproject.toml"
    )
    assert Config.from_file(path).host.name == "py"


def test_a_circus_ini_is_the_zmq_adapters_circus_config(tmp_path: Path) -> None:
    ini = tmp_path / "circus.ini"
    ini.write_text("[watcher:web]\ncmd = sleep 9\n")
    config = Config.from_file(ini, environ={"PLUGYARD_HOST__NAME": "c1"})
    assert config.raw_section("zmq") == {"circus_config": str(ini)}
    assert (config.path, config.base_dir, config.host.name) == (ini, tmp_path, "c1")
    assert (config.host.autoload, config.host.adapters) == (False, ["zmq"])


def test_an_unknown_key_names_the_file_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "[host]\nplugin_dir = []\n")
    with pytest.raises(ConfigError) as info:
        Config.from_file(path)
    assert str(info.value) == f"{path}: host.plugin_dir: unknown key; did you mean 'plugin_dirs'?"


def test_a_wrong_type_names_the_key_and_what_was_expected(tmp_path: Path) -> None:
    path = write(tmp_path, '[host]\nhook_timeout = "soon"\n')
    with pytest.raises(ConfigError, match=r"plugyard.toml: host.hook_timeout: .*number.*'soon'"):
        Config.from_file(path)


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[host\nname=1\n")
    with pytest.raises(ConfigError, match=r"plugyard.toml: not valid TOML"):
        Config.from_file(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        Config.from_file(tmp_path / "nope.toml")


def test_a_plugin_table_must_be_a_table_and_use_must_be_a_dotted_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"plugins.web: expected a table with 'use'"):
        Config.from_file(write(tmp_path, 'plugins = { web = "x" }\n'))
    with pytest.raises(ConfigError, match=r"plugins.web.use: String should match pattern"):
        Config.from_file(write(tmp_path, '[plugins.web]\nuse = "not a path!"\n'))


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    broker_url: str
    workers: int = 1


def test_adapter_sections_validate_with_file_and_key(tmp_path: Path) -> None:
    config = Config.from_file(write(tmp_path, "[celery]\nworkers = 2\n"))
    with pytest.raises(ConfigError) as info:
        config.section("celery", Section)
    assert (
        str(info.value)
        == f"{tmp_path / 'plugyard.toml'}: celery.broker_url: required value is missing"
    )
    config = Config.from_file(write(tmp_path, '[celery]\nbroker_url = "x"\nworker = 2\n'))
    with pytest.raises(ConfigError, match="celery.worker: unknown key"):
        config.section("celery", Section)


async def test_a_section_no_adapter_reads_stops_the_host_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, '[hots]\nname = "x"\n')
    host = Host.from_file(path, autoload=False)
    with pytest.raises(
        ConfigError, match=r"\[hots\]: no loaded adapter reads this section.*'host'"
    ):
        await host.start()


async def test_a_misspelt_adapter_section_is_matched_against_what_adapters_read(
    tmp_path: Path,
) -> None:
    class Reader:
        @hookimpl
        def plugyard_configure(self, host: Host) -> None:
            host.config.raw_section("kitchen")

    path = write(tmp_path, '[kitchne]\nstove = "gas"\n')
    host = Host.from_file(path, autoload=False, adapters={"reader": Reader()})
    with pytest.raises(ConfigError, match=r"\[kitchne\]: .*; did you mean 'kitchen'\?"):
        await host.load()


def test_env_overrides_are_nested_and_json_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "PLUGYARD_HOST__HOOK_TIMEOUT": "1.5",
        "PLUGYARD_CELERY__BROKER_URL": "redis://127.0.0.1:6379/3",
        "PLUGYARD_PLUGINS__WEB__PORT": "8081",
        "PLUGYARD_REQUIRE_SERVICES": "1",
        "OTHER__THING": "x",
    }
    assert env_overrides(env) == {
        "host": {"hook_timeout": 1.5},
        "celery": {"broker_url": "redis://127.0.0.1:6379/3"},
        "plugins": {"web": {"port": 8081}},
    }
    monkeypatch.setenv("PLUGYARD_HOST__NAME", "from-env")
    assert Config({"host": {"name": "from-file"}}).host.name == "from-env"


def test_env_override_with_a_bad_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGYARD_HOST__STARTUP_TIMEOUT", "-1")
    with pytest.raises(ConfigError, match="host.startup_timeout"):
        Config()


async def test_python_path_makes_use_targets_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    package = tmp_path / "vendored" / "shop_hooks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from plugyard.sdk import hookimpl\n\n"
        "class Greeter:\n"
        "    @hookimpl\n"
        "    def plugyard_startup(self, host):\n"
        "        host.publish('greeted')\n"
    )
    path = write(
        tmp_path,
        '[host]\npython_path = ["vendored"]\n[plugins.greeter]\nuse = "shop_hooks:Greeter"\n',
    )
    config = Config.from_file(path)
    assert config.host.python_path == [tmp_path / "vendored"]
    async with Host(config, autoload=False) as host:
        assert str(host.registry.get("greeter").state) == "started"
    assert sys.path[0] == str(tmp_path / "vendored")

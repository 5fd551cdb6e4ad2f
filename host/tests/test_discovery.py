"""Discovery: entry points, config entries, plugin folders, filters, and load failures."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import plugyard.host._discovery as discovery
from plugyard.host import Host, PluginState
from plugyard.sdk import __version__ as sdk_version


def fake_dist(
    site: Any,
    name: str,
    modules: dict[str, str],
    entry_points: dict[str, dict[str, str]],
    requires: list[str] = (),  # type: ignore[assignment]
    version: str = "1.0",
) -> None:
    """Write an installed-looking distribution (dist-info plus modules) into ``site``."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {req}" for req in requires]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    lines = []
    for group, items in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in items.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


HOOKS_MODULE = """
from plugyard.sdk import hookimpl

class Plugin:
    def __init__(self, greeting="hi"):
        self.greeting = greeting

    @hookimpl
    def plugyard_startup(self, host):
        host.publish("greeted", greeting=self.greeting)
"""


class Site:
    """A private site folder whose distributions are the only ones the host sees."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path, self.monkeypatch = path, monkeypatch

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def rescan(self) -> None:
        self.monkeypatch.setattr(discovery, "_cache", discovery._scan([str(self.path)]))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield Site(folder, monkeypatch)
    discovery.refresh_entry_points()


async def test_entry_point_plugins_are_found_with_their_distribution(site: Any) -> None:
    mod = f"ep_plugin_{id(site)}"
    fake_dist(
        site,
        "ep-plugin",
        {mod: HOOKS_MODULE},
        {"plugyard.plugins": {"greeter": f"{mod}:Plugin"}},
        version="2.3",
    )
    site.rescan()
    host = Host({"plugins": {"greeter": {"greeting": "hello"}}})
    async with host:
        record = host.registry.get("greeter")
        assert record.state is PluginState.STARTED
        assert record.model == "hooks"
        assert record.distribution == "ep-plugin" and record.version == "2.3"
        assert "plugyard_startup" in record.hooks
        await host.bus.drain(1)
    assert host.registry.handle("greeter").obj.greeting == "hello"


async def test_entry_points_are_read_once_per_process(site: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv(discovery.NO_CACHE_ENV, "1")
    discovery.refresh_entry_points()
    calls = []
    real_scan = discovery._scan

    def counting_scan(path: Any = None) -> Any:
        calls.append(path)
        return real_scan([str(site.path)])

    monkeypatch.setattr(discovery, "_scan", counting_scan)
    for _ in range(3):
        discovery.entry_points("plugyard.plugins")
        discovery.entry_points("plugyard.adapters")
    assert len(calls) == 1


class CountingScan:
    """Counts the reads of installed distributions (the cache file aside)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.real = discovery._scan
        monkeypatch.setattr(discovery, "_scan", self)

    def __call__(self, path: Any = None, group: Any = None) -> Any:
        self.calls += 1
        return self.real(path, group)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(discovery.CACHE_DIR_ENV, str(folder))
    monkeypatch.delenv(discovery.NO_CACHE_ENV, raising=False)
    discovery.refresh_entry_points()
    return folder


def greeters() -> list[str]:
    return sorted(i.name for i in discovery.entry_points("plugyard.plugins") if "greet" in i.name)


def test_the_next_process_reads_entry_points_from_the_cache(
    site: Any, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dist(site, "greet-one", {}, {"plugyard.plugins": {"greet_one": "m:P"}}, ["a>=1"])
    scans = CountingScan(monkeypatch)
    first = discovery.entry_points("plugyard.plugins")
    assert scans.calls == 1
    [written] = cache_dir.iterdir()
    assert written.name.startswith("entry-points-") and written.suffix == ".json"
    discovery.refresh_entry_points()  # as a new process would start
    assert discovery.entry_points("plugyard.plugins") == first
    assert scans.calls == 1
    [one] = [i for i in first if i.name == "greet_one"]
    assert (one.distribution, one.version, one.requires) == ("greet-one", "1.0", ("a>=1",))


def test_installing_removing_or_editing_a_distribution_is_seen_at_once(
    site: Any, cache_dir: Path
) -> None:
    fake_dist(site, "greet-one", {}, {"plugyard.plugins": {"greet_one": "m:P"}})
    assert greeters() == ["greet_one"]
    fake_dist(site, "greet-two", {}, {"plugyard.plugins": {"greet_two": "m:P"}})
    discovery.refresh_entry_points()
    assert greeters() == ["greet_one", "greet_two"]
    points = site / "greet_two-1.0.dist-info" / "entry_points.txt"
    points.write_text("[plugyard.plugins]\ngreet_2 = m:P\ngreet_extra = m:Q\n")
    discovery.refresh_entry_points()
    assert greeters() == ["greet_2", "greet_extra", "greet_one"]
    for file in (site / "greet_one-1.0.dist-info").iterdir():
        file.unlink()
    (site / "greet_one-1.0.dist-info").rmdir()
    discovery.refresh_entry_points()
    assert greeters() == ["greet_2", "greet_extra"]


def test_a_damaged_or_unwritable_cache_is_never_an_error(
    site: Any, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dist(site, "greet-one", {}, {"plugyard.plugins": {"greet_one": "m:P"}})
    assert greeters() == ["greet_one"]
    [written] = cache_dir.iterdir()
    for damage in ("{not json", '{"format": 1, "fingerprint": 3}', "[]"):
        written.write_text(damage)
        discovery.refresh_entry_points()
        assert greeters() == ["greet_one"]
    blocker = cache_dir.parent / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(discovery.CACHE_DIR_ENV, str(blocker / "cache"))
    discovery.refresh_entry_points()
    assert greeters() == ["greet_one"]


def test_the_cache_can_be_switched_off(
    site: Any, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(discovery.NO_CACHE_ENV, "1")
    fake_dist(site, "greet-one", {}, {"plugyard.plugins": {"greet_one": "m:P"}})
    assert greeters() == ["greet_one"]
    assert not cache_dir.exists()


async def test_duplicate_entry_points_are_deduplicated(site: Any, tmp_path: Path) -> None:
    mod = f"dup_plugin_{id(site)}"
    fake_dist(
        site, "dup-plugin", {mod: HOOKS_MODULE}, {"plugyard.plugins": {"dup": f"{mod}:Plugin"}}
    )
    other = tmp_path / "other"
    fake_dist(other, "dup-plugin", {}, {"plugyard.plugins": {"dup": f"{mod}:Plugin"}})
    found = discovery._scan([str(site.path), str(other)])
    assert [ep.name for ep in found["plugyard.plugins"]] == ["dup"]


async def test_a_plugin_that_fails_to_import_is_failed_and_the_host_goes_on(site: Any) -> None:
    mod = f"broken_{id(site)}"
    fake_dist(
        site,
        "broken",
        {mod: "raise ImportError('needs a missing library')\n"},
        {"plugyard.plugins": {"broken": f"{mod}:Plugin"}},
    )
    site.rescan()
    async with Host() as host:
        record = host.registry.get("broken")
        assert record.state is PluginState.FAILED
        assert "needs a missing library" in (record.error or "")
        assert host.running


async def test_a_plugin_needing_a_newer_sdk_is_refused_with_both_versions(site: Any) -> None:
    mod = f"newer_{id(site)}"
    fake_dist(
        site,
        "needs-newer",
        {mod: HOOKS_MODULE},
        {"plugyard.plugins": {"newer": f"{mod}:Plugin"}},
        requires=["plugyard-sdk>=99.0"],
    )
    site.rescan()
    async with Host() as host:
        record = host.registry.get("newer")
    assert record.state is PluginState.FAILED
    assert "plugyard-sdk>=99.0" in (record.error or "")
    assert f"plugyard-sdk {sdk_version} is installed" in (record.error or "")


async def test_autoload_off_skips_entry_points(site: Any, monkeypatch: Any) -> None:
    mod = f"auto_{id(site)}"
    fake_dist(site, "auto", {mod: HOOKS_MODULE}, {"plugyard.plugins": {"auto": f"{mod}:Plugin"}})
    site.rescan()
    monkeypatch.setenv("PLUGYARD_DISABLE_AUTOLOAD", "1")
    async with Host() as host:
        assert "auto" not in host.registry
    monkeypatch.delenv("PLUGYARD_DISABLE_AUTOLOAD")
    async with Host(autoload=False) as host:
        assert "auto" not in host.registry


async def test_disabled_blocks_before_import_and_enabled_is_an_allow_list(site: Any) -> None:
    bomb = f"bomb_{id(site)}"
    fake_dist(
        site,
        "two",
        {bomb: "raise SystemExit('must never be imported')\n", f"ok_{id(site)}": HOOKS_MODULE},
        {"plugyard.plugins": {"bomb": f"{bomb}:Plugin", "ok": f"ok_{id(site)}:Plugin"}},
    )
    site.rescan()
    async with Host({"host": {"disabled": ["bomb"]}}) as host:
        assert host.registry.get("bomb").state is PluginState.DISABLED
        assert host.registry.get("ok").state is PluginState.STARTED
    async with Host({"host": {"enabled": ["ok"]}}) as host:
        assert host.registry.get("bomb").state is PluginState.DISABLED
        assert "enabled" in (host.registry.get("bomb").error or "")


async def test_config_entries_load_by_use_with_options(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "cfg_plugin_mod.py").write_text(textwrap.dedent(HOOKS_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {"plugins": {"mine": {"use": "cfg_plugin_mod:Plugin", "greeting": "yo"}}}
    async with Host(config, autoload=False) as host:
        assert host.registry.get("mine").state is PluginState.STARTED
        assert host.registry.handle("mine").obj.greeting == "yo"


async def test_config_entry_with_options_the_plugin_does_not_take(
    tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "cfg_plugin_bad.py").write_text(textwrap.dedent(HOOKS_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {"plugins": {"mine": {"use": "cfg_plugin_bad:Plugin", "colour": "red"}}}
    async with Host(config, autoload=False) as host:
        record = host.registry.get("mine")
    assert record.state is PluginState.FAILED
    assert "does not take these options" in (record.error or "")
    assert "colour" in (record.error or "")


async def test_config_entry_with_a_missing_target_names_it() -> None:
    config = {"plugins": {"ghost": {"use": "no_such_module_xyz:Plugin"}}}
    async with Host(config, autoload=False) as host:
        record = host.registry.get("ghost")
    assert record.state is PluginState.FAILED
    assert "no_such_module_xyz" in (record.error or "")
    assert "[plugins.ghost]" in (record.error or "")


async def test_plugin_dirs_with_active_plugins(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "active_one.py").write_text(textwrap.dedent(HOOKS_MODULE))
    (folder / "inactive.py").write_text("raise SystemExit('not active')\n")
    config = {"host": {"plugin_dirs": [str(folder)], "active_plugins": ["active_one", "missing"]}}
    async with Host(config, autoload=False) as host:
        assert host.registry.get("active_one").state is PluginState.STARTED
        missing = host.registry.get("missing")
        assert missing.state is PluginState.FAILED
        assert "not found in plugin_dirs" in (missing.error or "")
        assert "inactive" not in host.registry


async def test_an_object_no_adapter_claims_is_failed_with_the_reason() -> None:
    class NotAPlugin:
        name = "plain"

    async with Host(autoload=False, plugins=[NotAPlugin()]) as host:
        record = host.registry.get("plain")
    assert record.state is PluginState.FAILED
    assert "no adapter recognises" in (record.error or "")


async def test_a_misspelled_hook_is_refused_with_a_did_you_mean() -> None:
    from plugyard.sdk import hookimpl

    class Typo:
        name = "typo"

        @hookimpl
        def plugyard_shutdwon(self) -> None: ...

    async with Host(autoload=False, plugins=[Typo()]) as host:
        record = host.registry.get("typo")
    assert record.state is PluginState.FAILED
    assert record.error == "unknown hook 'plugyard_shutdwon'; did you mean 'plugyard_shutdown'?"


async def test_entry_point_adapters_load_and_a_broken_one_is_failed(site: Any) -> None:
    good, bad = f"adapter_good_{id(site)}", f"adapter_bad_{id(site)}"
    fake_dist(
        site,
        "adapters",
        {
            good: """
            from plugyard.sdk import hookimpl
            @hookimpl
            def plugyard_startup(host):
                host.publish("adapter.up")
        """,
            bad: "import this_does_not_exist_either\n",
        },
        {"plugyard.adapters": {"good": good, "bad": bad}},
    )
    site.rescan()
    async with Host() as host:
        assert host.registry.get("good").state is PluginState.LOADED
        assert host.registry.get("good").model == "adapter"
        assert host.registry.get("bad").state is PluginState.FAILED
        assert "this_does_not_exist_either" in (host.registry.get("bad").error or "")
    async with Host({"host": {"disabled": ["good"]}}) as host:
        assert host.registry.get("good").state is PluginState.DISABLED


CLI_MODULE = """
import click
from plugyard.sdk import hookimpl

@click.command()
def hello():
    '''Say hello.'''
    click.echo("hello from an extension")

class Commands:
    @hookimpl
    def plugyard_cli(self, cli):
        cli.add_command(hello)

class Broken:
    @hookimpl
    def plugyard_cli(self, cli):
        raise RuntimeError("this extension is broken")

commands, broken = Commands(), Broken()
"""


def test_cli_entry_points_add_commands_and_a_broken_one_is_reported(
    site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import click
    from click.testing import CliRunner

    from plugyard.host._cli import PlugyardGroup

    mod = f"cli_ext_{id(site)}"
    fake_dist(
        site,
        "cli-ext",
        {mod: CLI_MODULE},
        {"plugyard.cli": {"hello": f"{mod}:commands", "broken": f"{mod}:broken"}},
    )
    site.rescan()

    @click.group(cls=PlugyardGroup)
    def group() -> None:
        """A fresh top-level group."""

    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from an extension\n"
    assert "hello" in group.list_commands(click.Context(group))
    warnings = [r.getMessage() for r in caplog.records if r.name == "plugyard.cli"]
    assert any(
        "'plugyard.cli:broken'" in w and "this extension is broken" in w for w in warnings
    ), warnings

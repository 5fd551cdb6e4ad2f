"""Versioned hook specs: a plugin's declared spec version and the hooks it implements are
checked at load; removed hooks and arguments are refused, deprecated and changed ones warn."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from plugyard.host import (
    HookSpecWarning,
    HookVersion,
    Host,
    PluginState,
    _versions,
    hookspec,
    hookspecs,
    policy,
    versioned,
)
from plugyard.sdk import SPEC_VERSION, hookimpl, spec_version_problem


class Specs:
    @hookspec
    @policy(errors="isolate")
    @versioned(
        since="1.0",
        changed={"1.2": "value may be negative"},
        removed_args={"legacy": ("1.1", "read value instead")},
    )
    def ver_note(self, value: int) -> Any: ...

    @hookspec
    @versioned(since="1.0", removed=("1.2", "use ver_note"))
    def ver_gone(self) -> Any: ...

    @hookspec
    @policy(errors="isolate")
    @versioned(since="1.0", deprecated=("1.1", "use ver_note"))
    def ver_old(self, value: int) -> Any: ...


@pytest.fixture(autouse=True)
def spec_1_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host speaks hook spec 1.3 here, so that these specs have a past."""
    monkeypatch.setattr(_versions, "SPEC_VERSION", "1.3")


def make(name: str, version: str | None = None, **hooks: Any) -> Any:
    attrs: dict[str, Any] = {"name": name}
    attrs.update({hook: staticmethod(hookimpl(func)) for hook, func in hooks.items()})
    if version is not None:
        attrs["plugyard_spec_version"] = version
    return type(name, (), attrs)()


async def loaded(*plugins: Any) -> Host:
    host = Host(autoload=False, plugins={p.name: p for p in plugins})
    host.pm.add_hookspecs(Specs)
    await host.load()
    return host


def note(value: int) -> int:
    return value


async def test_a_plugin_written_against_an_older_spec_is_warned_once_by_name() -> None:
    with pytest.warns(HookSpecWarning) as caught:
        host = await loaded(
            make("elder", "1.1", ver_note=note), make("fresh", "1.3", ver_note=note)
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, HookSpecWarning)]
    assert messages == [
        "plugin 'elder' was written against hook spec 1.1, and ver_note has changed since "
        "(1.2: value may be negative)"
    ]
    assert host.registry.get("elder").state is PluginState.LOADED
    assert (await host.call_hook("ver_note", value=3)).values == [3, 3]


async def test_a_deprecated_hook_warns_once_per_plugin_even_across_restarts() -> None:
    def old(value: int) -> None:
        return None

    host = Host(autoload=False, plugins={"keeper": make("keeper", ver_old=old)})
    host.pm.add_hookspecs(Specs)
    with pytest.warns(
        HookSpecWarning,
        match="plugin 'keeper' implements ver_old, deprecated since "
        r"hook spec 1\.1: use ver_note",
    ):
        await host.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", HookSpecWarning)
            await host.restart_plugin("keeper")
        assert host.registry.get("keeper").state is PluginState.STARTED
    finally:
        await host.stop()


async def test_an_implementation_of_a_removed_hook_is_refused_at_load() -> None:
    def gone() -> None:
        return None

    host = await loaded(make("ancient", ver_gone=gone), make("fine", ver_note=note))
    record = host.registry.get("ancient")
    assert record.state is PluginState.FAILED
    assert record.error == (
        "plugin 'ancient' implements ver_gone, which was removed in hook spec 1.2: use ver_note"
    )
    assert not host.pm.has_plugin("ancient")
    assert host.registry.get("fine").state is PluginState.LOADED


async def test_an_argument_that_no_longer_exists_is_refused_with_what_changed() -> None:
    def with_legacy(value: int, legacy: str) -> None:
        return None

    host = await loaded(make("dated", ver_note=with_legacy))
    assert host.registry.get("dated").error == (
        "plugin 'dated': ver_note no longer passes argument 'legacy' (removed in hook spec "
        "1.1: read value instead)"
    )


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("2.0", "written against hook spec 2.0, but the host speaks 1.3: a different major"),
        ("1.4", "written against hook spec 1.4, newer than the host's 1.3: upgrade"),
        ("one", "hook spec version 'one' is not of the form MAJOR.MINOR"),
    ],
)
async def test_a_declared_version_the_host_cannot_serve_is_refused(
    declared: str, expected: str
) -> None:
    host = await loaded(make("future", declared, ver_note=note))
    record = host.registry.get("future")
    assert record.state is PluginState.FAILED
    assert expected in (record.error or ""), record.error


def test_history_is_in_version_order_and_checked() -> None:
    history = Specs.ver_note.plugyard_version.history()  # type: ignore[attr-defined]
    assert history == [
        ("1.0", "added"),
        ("1.1", "argument `legacy` removed: read value instead"),
        ("1.2", "value may be negative"),
    ]
    with pytest.raises(ValueError, match="'1.x' is not of the form MAJOR.MINOR"):
        versioned(since="1.x")


def test_every_host_hook_has_a_history_within_the_sdks_spec_version() -> None:
    for name in hookspecs.__all__:
        version = getattr(getattr(hookspecs, name), "plugyard_version", None)
        assert isinstance(version, HookVersion), name
        assert spec_version_problem(version.since, SPEC_VERSION) is None, name

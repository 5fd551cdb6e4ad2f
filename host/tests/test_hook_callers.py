"""Typed hook callers: ``host.hooks.NAME(...)`` and ``HookRelay`` subclasses for an adapter's
own hooks, derived from the specifications and checked by mypy --strict."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from plugyard.host import (
    FirstResultCaller,
    HookCaller,
    HookRelay,
    Host,
    HostHooks,
    hookspec,
    hookspecs,
    policy,
    typed_hook,
)
from plugyard.sdk import Command, hookimpl


@hookspec
@policy(errors="isolate")
def relay_collect(host: Host, word: str) -> int | None:
    """Return the length of ``word``."""


@hookspec(firstresult=True)
@policy(result="first", errors="isolate")
def relay_first(word: str) -> str | None:
    """Return ``word`` changed, or ``None``."""


class RelaySpecs:
    relay_collect = staticmethod(relay_collect)
    relay_first = staticmethod(relay_first)


class WordHooks(HookRelay):
    relay_collect = typed_hook(relay_collect)
    relay_first = typed_hook(relay_first, firstresult=True)


class WordAdapter:
    name = "words"

    @hookimpl
    def plugyard_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(RelaySpecs)

    @hookimpl
    def plugyard_commands(self) -> list[Command]:
        return [Command("words.ping", lambda: {"pong": True})]

    @hookimpl
    def relay_collect(self, word: str) -> int:
        return len(word)


class Shouter:
    name = "shouter"

    @hookimpl
    def relay_collect(self, word: str) -> int:
        return 2 * len(word)

    @hookimpl
    def relay_first(self, word: str) -> str | None:
        return word.upper() if word else None


async def test_host_hooks_call_each_spec_under_its_policy() -> None:
    async with Host(autoload=False, adapters=[WordAdapter()], plugins=[Shouter()]) as host:
        commands = await host.hooks.plugyard_commands(host=host)
        names = [command.name for batch in commands for command in batch]
        assert "status" in names and "words.ping" in names
        assert isinstance(host.hooks.plugyard_commands, HookCaller)
        assert isinstance(host.hooks.plugyard_load_plugin, FirstResultCaller)
        assert host.hooks is host.hooks


async def test_an_adapters_relay_gives_a_list_or_one_value() -> None:
    async with Host(autoload=False, adapters=[WordAdapter()], plugins=[Shouter()]) as host:
        words = WordHooks(host)
        assert await words.relay_collect(host=host, word="abc") == [6, 3]
        assert await words.relay_first(word="abc") == "ABC"
        assert await words.relay_first(word="") is None
        outcome = await words.relay_collect.outcome(host=host, word="ab")
        assert [(r.plugin, r.value) for r in outcome.results] == [("shouter", 4), ("words", 2)]
        # the string form keeps working, with the same result
        assert (await host.call_hook("relay_collect", host=host, word="abc")).values == [6, 3]


async def test_a_typed_call_with_a_positional_or_unknown_argument_fails_at_once() -> None:
    async with Host(autoload=False, adapters=[WordAdapter()]) as host:
        words: Any = WordHooks(host)
        with pytest.raises(TypeError, match="keyword arguments only"):
            await words.relay_first("abc")
        with pytest.raises(TypeError, match="relay_first has no argument 'wrd'"):
            await words.relay_first(wrd="abc")


def test_typed_hook_refuses_a_firstresult_mismatch_and_a_non_spec() -> None:
    with pytest.raises(TypeError, match=r"relay_first\): the specification is firstresult"):
        typed_hook(relay_first)
    with pytest.raises(TypeError, match=r"relay_collect\): the specification is not first"):
        typed_hook(relay_collect, firstresult=True)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="not a plugyard hook specification"):
        typed_hook(len)


def test_every_host_hook_but_the_historic_one_has_a_typed_caller() -> None:
    specs = {
        name
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, "plugyard_spec") and not func.plugyard_spec.get("historic")
    }
    declared = {name for name in vars(HostHooks) if name.startswith("plugyard_")}
    assert declared == specs


MISUSE = """
from plugyard.host import Host, HookRelay, hookspec, typed_hook


@hookspec
def my_hook(host: Host, count: int) -> str | None: ...


class MyHooks(HookRelay):
    my_hook = typed_hook(my_hook)


async def misuse(host: Host) -> None:
    await host.hooks.plugyard_comands(host=host)
    await host.hooks.plugyard_configure()
    await host.hooks.plugyard_configure(host="host")
    handle = await host.hooks.plugyard_load_plugin(host=host, spec=None)
    commands: int = await host.hooks.plugyard_commands(host=host)
    handle.start()
    await MyHooks(host).my_hook(host=host, count="1")
    first: str = await MyHooks(host).my_hook(host=host, count=1)
"""

CORRECT = """
from typing import reveal_type

from plugyard.host import HookRelay, Host, PluginSpec, hookspec, typed_hook


@hookspec
def my_hook(host: Host, count: int) -> str | None: ...


@hookspec(firstresult=True)
def my_first(count: int) -> float | None: ...


class MyHooks(HookRelay):
    my_hook = typed_hook(my_hook)
    my_first = typed_hook(my_first, firstresult=True)


async def use(host: Host, spec: PluginSpec) -> None:
    reveal_type(await host.hooks.plugyard_commands(host=host))
    reveal_type(await host.hooks.plugyard_load_plugin(host=host, spec=spec))
    reveal_type(await host.hooks.plugyard_startup(host=host))
    reveal_type(await MyHooks(host).my_hook(host=host, count=1))
    reveal_type(await MyHooks(host).my_first(count=1))
"""


def mypy(tmp_path: Path, source: str) -> str:
    path = tmp_path / "hooks_use.py"
    path.write_text(textwrap.dedent(source))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    return done.stdout


def test_mypy_rejects_a_misspelled_hook_bad_arguments_and_a_misused_result(
    tmp_path: Path,
) -> None:
    found = re.findall(r"hooks_use\.py:(\d+): error: (.*?)  \[([\w-]+)\]", mypy(tmp_path, MISUSE))
    assert [(int(line), code) for line, _, code in found] == [
        (14, "attr-defined"),
        (15, "call-arg"),
        (16, "arg-type"),
        (17, "arg-type"),
        (18, "assignment"),
        (19, "union-attr"),
        (20, "arg-type"),
        (21, "assignment"),
    ], found
    messages = [message for _, message, _ in found]
    assert '"HostHooks" has no attribute "plugyard_comands"' in messages[0]
    assert 'Missing positional argument "host"' in messages[1]
    assert 'incompatible type "str"; expected "Host"' in messages[2]
    assert 'expected "PluginSpec"' in messages[3]
    assert 'type "list[Sequence[Command]]", variable has type "int"' in messages[4]
    assert '"None" of "PluginHandle | None" has no attribute "start"' in messages[5]
    assert 'incompatible type "str"; expected "int"' in messages[6]
    assert 'type "list[str]", variable has type "str"' in messages[7]


def test_mypy_gives_correct_calls_precise_result_types(tmp_path: Path) -> None:
    output = mypy(tmp_path, CORRECT)
    assert " error: " not in output, output
    revealed = re.findall(r'Revealed type is "(.*)"', output)
    assert revealed == [
        "list[typing.Sequence[plugyard.sdk._commands.Command]]",
        "plugyard.sdk._handle.PluginHandle | None",
        "list[None]",
        "list[str]",
        "float | None",
    ], output

"""The command plane: built-in commands, typed properties, errors with circus's errnos."""

from __future__ import annotations

from typing import Any

import pytest

from plugyard.host import Command, CommandError, CommandPlane, Errno, Param, PluginState
from plugyard.host.testing import run_host
from plugyard.sdk import hookimpl


class Contributes:
    name = "contrib"

    @hookimpl
    def plugyard_commands(self) -> list[Command]:
        async def add(a: int, b: float = 0.5) -> dict[str, Any]:
            return {"sum": a + b}

        def many() -> list[int]:
            return [1, 2, 3]

        def broken() -> dict[str, Any]:
            raise OSError("disk on fire")

        return [
            Command("add", add, "Add", {"a": Param(int, required=True), "b": Param(float)}),
            Command("many", many),
            Command("broken", broken),
            Command("status", many),
        ]


async def test_builtin_and_contributed_commands() -> None:
    async with run_host([Contributes()]) as host:
        names = {c.name for c in host.commands.list()}
        assert {
            "status",
            "list",
            "plugins",
            "start",
            "stop",
            "restart",
            "publish",
            "stats",
            "snapshot",
            "quit",
            "add",
            "many",
        } <= names
        assert await host.run_command("ADD", a=2) == {"sum": 2.5}
        assert await host.run_command("add", a=2, b=3) == {"sum": 5}
        assert await host.run_command("many") == {"results": [1, 2, 3]}
        assert (await host.run_command("list"))["plugins"] == ["contrib"]
        plugins = (await host.run_command("plugins"))["plugins"]
        assert plugins[0]["name"] == "contrib" and plugins[0]["model"] == "hooks"
        reply = await host.run_command("publish", topic="app.x", data={"k": 1})
        assert reply["event"]["topic"] == "app.x" and reply["event"]["data"] == {"k": 1}
        snap = await host.run_command("snapshot")
        assert snap["seq"] >= reply["event"]["seq"]
        stats = await host.run_command("stats", name="contrib")
        assert stats["info"]["calls"] >= 1


async def test_a_name_clash_keeps_the_first_and_is_logged(caplog: Any) -> None:
    async with run_host([Contributes()]) as host:
        assert host.commands.get("status").source == "host"
    assert "command 'status' from contrib is already provided by host" in caplog.text


@pytest.mark.parametrize(
    ("name", "props", "errno", "message"),
    [
        ("ad", {"a": 1}, Errno.UNKNOWN_COMMAND, "unknown command 'ad'; did you mean 'add'?"),
        ("add", {}, Errno.MESSAGE_ERROR, "add: property 'a' is required (integer)"),
        ("add", {"a": "1"}, Errno.MESSAGE_ERROR, "add: property 'a' must be a integer, got str"),
        ("add", {"a": True}, Errno.MESSAGE_ERROR, "must be a integer, got bool"),
        ("add", {"a": 1, "c": 2}, Errno.MESSAGE_ERROR, "unknown property 'c' (accepted: a, b)"),
        ("broken", {}, Errno.OS_ERROR, "broken failed: OSError: disk on fire"),
        ("status", {"name": "ghost"}, Errno.MESSAGE_ERROR, "no plugin named 'ghost'"),
        ("start", {"name": "contrib"}, None, None),
    ],
)
async def test_bad_commands_get_errors_with_errnos(
    name: str, props: dict[str, Any], errno: Errno | None, message: str | None
) -> None:
    async with run_host([Contributes()]) as host:
        if errno is None:
            assert (await host.run_command(name, **props))["state"] == "started"
            return
        with pytest.raises(CommandError) as info:
            await host.run_command(name, **props)
    assert info.value.errno is errno
    assert message in info.value.reason
    assert info.value.to_dict()["status"] == "error"


async def test_adapters_cannot_be_started_or_stopped() -> None:
    class Adapter:
        name = "adp"

    async with run_host([], adapters=[Adapter()]) as host:
        with pytest.raises(CommandError, match="'adp' is an adapter"):
            await host.run_command("stop", name="adp")


async def test_restarting_an_adapter_runs_its_shutdown_then_its_startup() -> None:
    class Reconnects:
        name = "reconnects"

        def __init__(self) -> None:
            self.calls: list[str] = []
            self.fail_next = False

        @hookimpl
        def plugyard_shutdown(self, host: Any) -> None:
            self.calls.append("shutdown")

        @hookimpl
        async def plugyard_startup(self, host: Any) -> None:
            self.calls.append("startup")
            if self.fail_next:
                raise ConnectionError("the broker does not answer")

    adapter = Reconnects()
    async with run_host([], adapters=[adapter]) as host:
        assert adapter.calls == ["startup"]
        reply = await host.run_command("restart", name="reconnects")
        assert reply["name"] == "reconnects"
        assert adapter.calls == ["startup", "shutdown", "startup"]
        adapter.fail_next = True
        with pytest.raises(CommandError, match="the broker does not answer"):
            await host.run_command("restart", name="reconnects")
        assert host.registry.get("reconnects").state is PluginState.FAILED
        with pytest.raises(CommandError, match="cannot be restarted: it failed"):
            await host.run_command("restart", name="reconnects")
    assert adapter.calls == ["startup", "shutdown", "startup", "shutdown", "startup"]


def test_param_types() -> None:
    assert Param(float).accepts(1) and not Param(int).accepts(1.5)
    assert Param((str, int)).type_name == "string or integer"
    plane = CommandPlane()
    plane.add(Command("x", lambda: None))
    with pytest.raises(ValueError, match="already provided"):
        plane.add(Command("X", lambda: None, source="other"))


async def test_absent_properties_get_the_param_default_unless_the_handler_has_one() -> None:
    seen: dict[str, Any] = {}

    def handler(name: str, args: Any, kwargs: Any = "own default") -> dict[str, Any]:
        seen.update(name=name, args=args, kwargs=kwargs)
        return {}

    plane = CommandPlane()
    plane.add(
        Command(
            "send",
            handler,
            params={"name": Param(str, required=True), "args": Param(list), "kwargs": Param(dict)},
        )
    )
    await plane.call("send", {"name": "x"})
    assert seen == {"name": "x", "args": None, "kwargs": "own default"}

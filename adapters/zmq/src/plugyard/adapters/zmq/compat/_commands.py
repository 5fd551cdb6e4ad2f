"""circusd's command set on the host's command socket, with circus 0.19's properties and replies.

Every plugin of the host is a circus "watcher": watchers from a circus.ini (or added with
``add``) run their own processes; other plugins are single-process watchers (or none, for
in-process plugins). Commands the host also has (``list``, ``status``, ``stats``, ``start``,
``stop``, ``restart``, ``quit``) keep plugyard's reply keys beside circus's.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import re
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import CommandError, Errno, PluginState

from ._config import read_circus_ini, read_watcher_tables
from ._options import OptionError, WatcherOptions, to_bool, to_signum
from ._procinfo import process_info
from ._reload import IniPlugins
from ._sockets import BoundSocket
from ._watcher import Watcher

if TYPE_CHECKING:
    from plugyard.host import Host

__all__ = ["CircusCommands"]

logger = logging.getLogger("plugyard.adapters.zmq.compat")

_Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
_GLOBAL_OPTIONS = (
    "endpoint",
    "stats_endpoint",
    "pubsub_endpoint",
    "check_delay",
    "multicast_endpoint",
)
_STATUS = {
    PluginState.STARTED: "active",
    PluginState.STOPPED: "stopped",
    PluginState.FAILED: "stopped",
    PluginState.LOADED: "stopped",
    PluginState.DISCOVERED: "stopped",
    PluginState.DISABLED: "stopped",
}


def _message(reason: str) -> CommandError:
    return CommandError(reason, Errno.MESSAGE_ERROR)


class CircusCommands:
    """Answers circus's commands for one host; ``dispatch`` returns ``None`` for the rest."""

    def __init__(
        self,
        host: Host,
        *,
        endpoints: Callable[[], tuple[str, str]],
        check_delay: float,
        circus_words: bool,
        ini: Path | None = None,
    ) -> None:
        self.host = host
        self.watchers: dict[str, Watcher] = {}
        self.sockets: dict[str, BoundSocket] = {}
        self.circus_words = circus_words
        self.check_delay = check_delay
        self.ini = ini
        self.ini_plugins = IniPlugins(host, ini) if ini is not None else None
        self._endpoints = endpoints
        self._background: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, _Handler] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("cmd_")
        }

    # -- watchers ---------------------------------------------------------------------------

    def add_watcher(self, options: WatcherOptions, source: str) -> Watcher:
        """Register a watcher as a plugin of the host (not started)."""
        if self._lookup(options.name) is not None:
            raise CommandError(f"watcher {options.name!r} already exists", Errno.COMMAND_ERROR)
        watcher = Watcher(
            self.host, options, source=source, env=dict(os.environ), sockets=self.sockets
        )
        self.host.add_plugin(options.name, watcher, source=source)
        self.watchers[options.name] = watcher
        return watcher

    def install_watcher(self, options: WatcherOptions, source: str) -> Watcher:
        """Register a watcher from the configuration; ``autostart = false`` leaves it
        stopped when the host starts."""
        watcher = self.add_watcher(options, source)
        if not options.autostart:
            self.host.set_plugin_state(options.name, PluginState.STOPPED)
        return watcher

    async def remove_watcher(self, name: str) -> None:
        """Stop a watcher and forget it."""
        watcher = self.watchers.pop(name)
        await self.host.remove_plugin(name)
        watcher.close()

    # -- dispatch ---------------------------------------------------------------------------

    async def dispatch(self, command: str, props: dict[str, Any]) -> dict[str, Any] | None:
        """The reply to a circus command, or ``None`` to let the host's command answer
        (circus-only properties it does not take are removed from ``props`` first)."""
        handler = self._handlers.get(command)
        if handler is None:
            return None
        try:
            return await handler(props)
        except OptionError as exc:
            raise _message(str(exc)) from None

    def _later(self, what: str, work: Awaitable[Any]) -> None:
        """Run ``work`` after the reply (circusctl's ``waiting=false``); failures are logged."""

        async def run() -> None:
            try:
                await work
            except Exception as exc:
                logger.warning("%s failed: %s", what, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self, props: dict[str, Any], what: str, work: Awaitable[Any]) -> Any:
        """Await ``work``, or with an explicit ``waiting: false`` (circusctl) answer first."""
        if "waiting" in props and not props.get("waiting"):
            self._later(what, work)
            return None
        return await work

    # -- names ------------------------------------------------------------------------------

    def _names(self) -> list[str]:
        """The names circus commands see: with circus's words, what circusd would run
        (watchers, and the subscriber plugins of this adapter); else every plugin."""
        if self.circus_words:
            return [r.name for r in self.host.plugins if r.model in ("watcher", "zmq")]
        return [r.name for r in self.host.plugins if r.model != "adapter"]

    def shown(self, name: str) -> str:
        """A plugin's name as circus shows it: a watcher's as is, a plugin's as
        ``plugin:NAME`` (with circus's words; circusd names its plugins so)."""
        if self.circus_words and name not in self.watchers:
            return f"plugin:{name}"
        return name

    def _lookup(self, name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        wanted = name.lower()
        for found in self._names():
            if wanted in (found.lower(), self.shown(found).lower()):
                return found
        return None

    def _find(self, name: Any) -> str:
        found = self._lookup(name)
        if found is None:
            raise self._not_found(name)
        return found

    def _not_found(self, name: Any) -> CommandError:
        if self.circus_words:
            return _message(f"program {name} not found")
        return _message(f"no plugin named {name!r}")

    def _watcher(self, name: Any, command: str) -> Watcher:
        found = self._find(name)
        watcher = self.watchers.get(found)
        if watcher is None:
            raise _message(f"{command}: {found!r} is a plugin, not a watcher with processes")
        return watcher

    def _match(self, props: dict[str, Any]) -> list[str]:
        name = props.get("name")
        match = props.pop("match", "glob")
        if name is None:
            return self._names()
        if match == "simple":
            return [self._find(name)]
        pattern = str(name).lower()
        if match == "glob":
            regex = re.compile(fnmatch.translate(pattern))
        elif match == "regex":
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise _message(f"invalid regex {name!r}: {exc}") from None
        else:
            raise _message(f"unknown match method {match}")
        found = [
            n for n in self._names() if regex.match(self.shown(n).lower()) or regex.match(n.lower())
        ]
        if not found:
            raise self._not_found(name)
        return found

    def _order(self, name: str) -> int:
        return int(getattr(self.host.registry.handle(name), "order", 0))

    def status_of(self, name: str) -> str:
        """circus's word for a plugin's state: active, stopped, starting or stopping."""
        watcher = self.watchers.get(name)
        if watcher is not None and watcher.status in ("starting", "stopping"):
            return watcher.status
        return _STATUS.get(self.host.registry.get(name).state, "stopped")

    def _pids(self, name: str) -> dict[int, int]:
        """``{process id: pid}`` of a plugin's live processes."""
        watcher = self.watchers.get(name)
        if watcher is not None:
            found: dict[int, int] = {}
            for wid in sorted(watcher.wids):
                try:
                    info = self.host.processes.get(watcher.wids[wid])
                except KeyError:
                    continue
                if info.pid is not None:
                    found[wid] = info.pid
            return found
        try:
            pid = self.host.processes.get(name).pid
        except KeyError:
            return {}
        return {1: pid} if pid is not None else {}

    # -- listing ----------------------------------------------------------------------------

    async def cmd_list(self, props: dict[str, Any]) -> dict[str, Any] | None:
        if "name" in props:
            return {"pids": list(self._pids(self._find(props["name"])).values())}
        return {
            "plugins": [r.name for r in self.host.plugins],
            "watchers": sorted(self.shown(n).lower() for n in self._names()),
        }

    async def cmd_status(self, props: dict[str, Any]) -> dict[str, Any] | None:
        if not self.circus_words:
            return None
        if "name" in props:
            return {"status": self.status_of(self._find(props["name"]))}
        return {"statuses": {self.shown(n): self.status_of(n) for n in self._names()}}

    async def cmd_numwatchers(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"numwatchers": len(self._names())}

    async def cmd_numprocesses(self, props: dict[str, Any]) -> dict[str, Any]:
        if "name" in props:
            found = self._find(props["name"])
            return {"numprocesses": len(self._pids(found)), "watcher_name": props["name"]}
        return {"numprocesses": sum(len(self._pids(n)) for n in self._names())}

    async def cmd_listsockets(self, props: dict[str, Any]) -> dict[str, Any]:
        bound = [s.info() for s in self.sockets.values() if s.socket is not None]
        return {"sockets": sorted(bound, key=lambda s: int(s["fd"]))}

    def bind_sockets(self) -> None:
        """Bind every configured socket (before the watchers start); undone on failure."""
        try:
            for sock in self.sockets.values():
                sock.bind()
        except OSError:
            self.close_sockets()
            raise

    def close_sockets(self) -> None:
        """Close the sockets (after the watchers have stopped)."""
        for sock in self.sockets.values():
            sock.close()

    async def cmd_globaloptions(self, props: dict[str, Any]) -> dict[str, Any]:
        endpoint, pubsub = self._endpoints()
        values: dict[str, Any] = {
            "endpoint": endpoint,
            "stats_endpoint": None,
            "pubsub_endpoint": pubsub,
            "check_delay": self.check_delay,
            "multicast_endpoint": None,
        }
        wanted = props.get("option")
        if wanted:
            if wanted not in _GLOBAL_OPTIONS:
                raise _message(f"{wanted!r} not an existing option")
            return {"options": {wanted: values[wanted]}}
        return {"options": values}

    # -- options ----------------------------------------------------------------------------

    def _options_of(self, name: str) -> dict[str, Any]:
        watcher = self.watchers.get(name)
        if watcher is not None:
            return watcher.options.listing()
        return {"numprocesses": 1, "singleton": True, "priority": 0}

    async def cmd_options(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"options": self._options_of(self._find(props.get("name")))}

    async def cmd_get(self, props: dict[str, Any]) -> dict[str, Any]:
        options = self._options_of(self._find(props.get("name")))
        keys = props.get("keys") or []
        if not isinstance(keys, list):
            raise _message("'keys' should be a list of option names")
        found: dict[str, Any] = {}
        for key in keys:
            if key not in options:
                raise _message(f"{key!r} option not found")
            found[key] = options[key]
        return {"options": found}

    async def cmd_set(self, props: dict[str, Any]) -> dict[str, Any]:
        watcher = self._watcher(props.get("name"), "set")
        options = props.get("options")
        if not isinstance(options, dict):
            raise _message("'options' property should be an object")
        action = 0
        for key, value in options.items():
            if key == "hooks" and isinstance(value, dict):
                for hook, target in value.items():
                    action = max(action, watcher.set_option(f"hooks.{hook}", target))
            else:
                action = max(action, watcher.set_option(str(key), value))
        work = watcher.reload() if action == 1 else watcher.manage()
        await self._run(props, f"set {watcher.name}", work)
        return {}

    # -- process counts ---------------------------------------------------------------------

    async def _resize(self, props: dict[str, Any], step: int) -> dict[str, Any]:
        found = self._find(props.get("name"))
        watcher = self.watchers.get(found)
        if watcher is None or watcher.options.singleton:
            count = watcher.options.numprocesses if watcher is not None else 1
            return {"numprocesses": count, "singleton": True}
        nb = props.get("nb", 1)
        if isinstance(nb, bool) or not isinstance(nb, int):
            raise _message(f"'nb' must be an integer, got {nb!r}")
        count = await (watcher.incr(nb) if step > 0 else watcher.decr(nb))
        return {"numprocesses": count} if props.get("waiting") else {}

    async def cmd_incr(self, props: dict[str, Any]) -> dict[str, Any]:
        return await self._resize(props, 1)

    async def cmd_decr(self, props: dict[str, Any]) -> dict[str, Any]:
        return await self._resize(props, -1)

    # -- signals ----------------------------------------------------------------------------

    def _pid_prop(self, props: dict[str, Any], key: str = "pid") -> int | None:
        if key not in props or props[key] is None:
            return None
        try:
            return int(props[key])
        except (TypeError, ValueError):
            raise _message(f"{key!r} must be a process id, got {props[key]!r}") from None

    async def cmd_signal(self, props: dict[str, Any]) -> dict[str, Any]:
        for key in ("name", "signum"):
            if key not in props:
                raise _message(f"message invalid {key!r} is missing")
        try:
            signum = to_signum(props["signum"])
        except OptionError:
            raise _message("signal invalid") from None
        found = self._find(props["name"])
        pid = self._pid_prop(props)
        childpid = self._pid_prop(props, "childpid")
        if childpid is not None and pid is None:
            raise _message("cannot specify childpid without pid")
        children = to_bool(props.get("children", False), "children")
        recursive = to_bool(props.get("recursive", False), "recursive")
        if childpid is not None:
            os.kill(childpid, signum)
            return {}
        watcher = self.watchers.get(found)
        if watcher is not None:
            await watcher.signal(signum, pid, children=children, recursive=recursive)
            return {}
        pids = list(self._pids(found).values())
        if pid is not None and pid not in pids:
            raise _message(f"process {pid} not found in {found!r}")
        for target in [pid] if pid is not None else pids:
            os.kill(target, signum)
        return {}

    async def cmd_kill(self, props: dict[str, Any]) -> dict[str, Any]:
        found = self._find(props.get("name"))
        pid = self._pid_prop(props)
        signum = None
        if props.get("signum") is not None:
            try:
                signum = to_signum(props["signum"])
            except OptionError:
                raise _message("signal invalid") from None
        timeout = props.get("graceful_timeout")
        if timeout is not None:
            try:
                timeout = float(timeout)
            except (TypeError, ValueError):
                raise _message(f"'graceful_timeout' must be a number, got {timeout!r}") from None
        watcher = self.watchers.get(found)
        if watcher is None:
            pids = list(self._pids(found).values())
            for target in pids if pid is None else [p for p in pids if p == pid]:
                os.kill(target, signum if signum is not None else 15)
            return {}
        await self._run(props, f"kill {found}", watcher.kill(pid, signum, timeout))
        return {}

    # -- start, stop, restart, reload -------------------------------------------------------

    async def _drive(self, props: dict[str, Any], action: str) -> dict[str, Any]:
        named = "name" in props
        names = self._match(props)
        names.sort(key=self._order, reverse=action == "stop")
        work = self._drive_all(names, action)
        result = await self._run(props, f"{action} {props.get('name', 'all')}", work)
        reply: dict[str, Any] = {}
        if named and len(names) == 1 and result is not None:
            reply = {"name": names[0], "state": result[0]}
        if props.get("waiting"):
            reply["info"] = None
        return reply

    async def _drive_all(self, names: list[str], action: str) -> list[str]:
        states: list[str] = []
        for name in names:
            try:
                record = await getattr(self.host, f"{action}_plugin")(name)
            except RuntimeError as exc:
                raise CommandError(str(exc), Errno.COMMAND_ERROR) from None
            if record.state is PluginState.FAILED:
                raise CommandError(f"{action} {name!r}: {record.error}", Errno.COMMAND_ERROR)
            states.append(str(record.state))
        return states

    async def cmd_start(self, props: dict[str, Any]) -> dict[str, Any]:
        return await self._drive(props, "start")

    async def cmd_stop(self, props: dict[str, Any]) -> dict[str, Any]:
        return await self._drive(props, "stop")

    async def cmd_restart(self, props: dict[str, Any]) -> dict[str, Any] | None:
        name = props.get("name")
        registry = self.host.registry
        if isinstance(name, str) and name in registry and registry.get(name).model == "adapter":
            return None  # the host's own restart reconnects an adapter
        return await self._drive(props, "restart")

    async def cmd_reload(self, props: dict[str, Any]) -> dict[str, Any]:
        names = [self._find(props["name"])] if "name" in props else self._names()

        async def reload_all() -> None:
            for name in sorted(names, key=self._order):
                watcher = self.watchers.get(name)
                if watcher is not None:
                    await watcher.reload()
                elif self.host.registry.get(name).state is PluginState.STARTED:
                    await self.host.restart_plugin(name)

        await self._run(props, "reload", reload_all())
        return {"info": None} if props.get("waiting") and "name" in props else {}

    async def cmd_quit(self, props: dict[str, Any]) -> None:
        props.pop("waiting", None)
        return None

    # -- stats ------------------------------------------------------------------------------

    def _process_info(self, name: str, pid: int, extended: bool) -> dict[str, Any] | str:
        """One process's figures (in a thread); ``extended`` adds its children, and lets the
        watcher's ``extended_stats`` hook add its own."""
        info = process_info(pid, children=extended)
        watcher = self.watchers.get(name)
        if extended and watcher is not None and isinstance(info, dict):
            watcher.extended_stats(pid, info)
        return info

    async def _info(self, name: str, extended: bool) -> dict[str, Any]:
        pids = self._pids(name)
        infos = await asyncio.to_thread(
            lambda: {pid: self._process_info(name, pid, extended) for pid in pids.values()}
        )
        return {str(pid): info for pid, info in infos.items()}

    async def cmd_stats(self, props: dict[str, Any]) -> dict[str, Any] | None:
        extended = bool(props.pop("extended", False))
        process = props.pop("process", None)
        if not self.circus_words:
            return None
        if "name" not in props:
            return {"infos": {self.shown(n): await self._info(n, False) for n in self._names()}}
        found = self._find(props["name"])
        if process is not None:
            pid = self._pid_prop({"process": process}, "process")
            if pid not in self._pids(found).values():
                raise _message(f"process {process!r} not found in {props['name']!r}")
            assert pid is not None
            info = await asyncio.to_thread(self._process_info, found, pid, extended)
            return {"process": pid, "info": info}
        return {
            "name": props["name"],
            "info": await self._info(found, extended),
            "counters": self.host.stats[found].to_dict(),
        }

    async def cmd_dstats(self, props: dict[str, Any]) -> dict[str, Any]:
        info = await asyncio.to_thread(process_info, os.getpid(), interval=0.01)
        return {"info": info}

    # -- adding, removing, reloading the configuration --------------------------------------

    async def cmd_add(self, props: dict[str, Any]) -> dict[str, Any]:
        for key in ("name", "cmd"):
            if key not in props:
                raise _message(f"message invalid {key!r} is missing")
        options = props.get("options") or {}
        if not isinstance(options, dict):
            raise _message("'options' property should be an object")
        values = {**options, "cmd": props["cmd"]}
        if props.get("args") is not None:
            values["args"] = props["args"]
        watcher = self.add_watcher(
            WatcherOptions.from_mapping(str(props["name"]), values), "added by command"
        )
        if props.get("start"):
            await self._drive_all([watcher.name], "start")
        return {}

    async def cmd_rm(self, props: dict[str, Any]) -> dict[str, Any]:
        watcher = self._watcher(props.get("name"), "rm")
        await self._run(props, f"rm {watcher.name}", self.remove_watcher(watcher.name))
        return {}

    async def cmd_reloadconfig(self, props: dict[str, Any]) -> dict[str, Any]:
        await self._run(props, "reloadconfig", self.reload_config())
        return {}

    def _configured(self) -> dict[str, tuple[WatcherOptions, str]]:
        """Every watcher the files configure now, with the file it comes from."""
        found: dict[str, tuple[WatcherOptions, str]] = {}
        path = self.host.config.path
        if path is not None and Path(path).suffix == ".toml":
            with Path(path).open("rb") as handle:
                tables = tomllib.load(handle).get("watchers", {})
            for name, options in read_watcher_tables(tables, str(path)).items():
                found[name] = (options, str(path))
        if self.ini is not None:
            for name, options in read_circus_ini(self.ini).watchers.items():
                found.setdefault(name, (options, str(self.ini)))
        return found

    def reload_on_sighup(self) -> Callable[[], None]:
        """Run ``reloadconfig`` on SIGHUP, as circusd does; returns the undo. Only the main
        thread's loop can take signals: elsewhere this does nothing."""
        import signal

        loop = asyncio.get_running_loop()

        def on_hup() -> None:
            logger.info("SIGHUP: reloading the watchers' configuration")
            self._later("reloadconfig on SIGHUP", self.reload_config())

        try:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        except (RuntimeError, ValueError):
            return lambda: None

        def undo() -> None:
            loop.remove_signal_handler(signal.SIGHUP)

        return undo

    async def reload_config(self) -> None:
        """Read plugyard.toml's ``[watchers]`` and the circus.ini again (its watchers and its
        ``[plugin:NAME]`` sections): start added watchers and plugins, stop removed ones,
        restart changed ones; unchanged ones are left running."""
        try:
            fresh = self._configured()
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CommandError(f"reloadconfig: {exc}", Errno.COMMAND_ERROR) from None
        sources = {str(self.ini), str(self.host.config.path)}
        for name in [n for n, w in self.watchers.items() if w.source in sources]:
            if name not in fresh:
                await self.remove_watcher(name)
        for name, (options, source) in fresh.items():
            current = self.watchers.get(name)
            if current is None:
                self.install_watcher(options, source)
                if options.autostart:
                    await self._drive_all([name], "start")
            elif current.options.listing() != options.listing():
                running = self.host.registry.get(name).state is PluginState.STARTED
                if running:
                    await self.host.stop_plugin(name)
                current.replace_options(options)
                if running:
                    await self._drive_all([name], "start")
        if self.ini_plugins is not None:
            errors = await self.ini_plugins.reload()
            if errors:
                raise CommandError("reloadconfig: " + "; ".join(errors), Errno.COMMAND_ERROR)

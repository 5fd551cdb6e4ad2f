"""The circus.ini's ``[plugin:NAME]`` sections at ``reloadconfig``: plugins added to the file
start, removed ones stop and go, changed ones start again with their new options, and
unchanged ones are left running."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import PluginLoadError, PluginState, import_target

from .._ini import IniError, read_circus_plugins

if TYPE_CHECKING:
    from plugyard.host import Host

__all__ = ["IniPlugins"]

logger = logging.getLogger("plugyard.adapters.zmq.compat")


class IniPlugins:
    """The ``[plugin:NAME]`` tables of one circus.ini, as the host runs them now."""

    def __init__(self, host: Host, ini: Path) -> None:
        self.host = host
        self.ini = ini
        self.tables: dict[str, dict[str, Any]] = read_circus_plugins(ini)

    async def reload(self) -> list[str]:
        """Bring the running plugins in line with the file; returns the errors, one a line
        naming the section (a plugin that cannot load is left out, the others go on)."""
        try:
            fresh = read_circus_plugins(self.ini)
        except IniError as exc:
            return [str(exc)]
        errors: list[str] = []
        for name, table in self.tables.items():
            if fresh.get(name) != table and name in self.host.registry:
                logger.info(
                    "reloadconfig: [plugin:%s] %s", name, "changed" if name in fresh else "removed"
                )
                await self.host.remove_plugin(name)
        for name, table in list(fresh.items()):
            if self.tables.get(name) == table and name in self.host.registry:
                continue
            if name in self.host.registry:
                errors.append(
                    f"{self.ini}: [plugin:{name}]: a plugin called {name!r} already runs "
                    "from another source"
                )
                continue
            where = f"{self.ini}: [plugin:{name}]"
            try:
                await self._add(name, table, where)
            except (PluginLoadError, ValueError, RuntimeError) as exc:
                message = str(exc)
                errors.append(message if message.startswith(where) else f"{where}: {message}")
                fresh.pop(name)
        self.tables = fresh
        return errors

    async def _add(self, name: str, table: dict[str, Any], where: str) -> None:
        from .._plugins import SubscriberHandle, flavour_of, process_options, target_of
        from .._service import ZmqService

        options = {key: value for key, value in table.items() if key != "use"}
        obj = import_target(table["use"], where=where)
        flavour = flavour_of(obj)
        if flavour is None:
            raise PluginLoadError(f"{table['use']!r} is not a circus or subscriber plugin class")
        service = ZmqService.of(self.host)
        process = process_options(service.settings.process, options.pop("process", None), where)
        handle = SubscriberHandle(service, name, target_of(obj, where), options, process, flavour)
        service.handles[name] = handle
        self.host.add_plugin(name, handle, source=str(self.ini), target=table["use"])
        record = await self.host.start_plugin(name)
        if record.state is PluginState.FAILED:
            raise RuntimeError(f"start failed: {record.error}")
        logger.info("reloadconfig: [plugin:%s] started", name)

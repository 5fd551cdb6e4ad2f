"""The plugyard hook specifications: the one contract between the host, adapters and plugins.

Every hook takes keyword arguments only. An implementation names just the arguments it needs.
Hooks with a call policy (``@policy``) are dispatched by ``host.call_hook``: one implementation at a
time in pluggy's order, awaiting what returns an awaitable, with a per-implementation timeout,
and with each result and error attributed to its plugin. The same hooks called as
``host.hook.NAME(...)`` keep pluggy's plain semantics.

Each hook records its history in the hook spec's versions (``@versioned``); the contract as
a whole is ``plugyard.sdk.SPEC_VERSION``, which a plugin may declare as
``plugyard_spec_version`` and which out-of-process plugins exchange in their handshake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from ._policy import hookspec, policy
from ._versions import versioned

if TYPE_CHECKING:
    import click

    from plugyard.sdk import Command, Event, PluginHandle

    from ._discovery import PluginSpec
    from ._host import Host

__all__ = [
    "plugyard_addhooks",
    "plugyard_cli",
    "plugyard_commands",
    "plugyard_configure",
    "plugyard_event",
    "plugyard_load_plugin",
    "plugyard_routes",
    "plugyard_shutdown",
    "plugyard_started",
    "plugyard_startup",
    "plugyard_unload",
]


@hookspec(historic=True)
@versioned(since="1.0")
def plugyard_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add a model's own hook specifications.

    Called once for every adapter or plugin as soon as it is registered (the call is
    historic, so late registrations see it too). Call ``pluginmanager.add_hookspecs(module)``
    here, as ``pytest_addhooks`` does, with ``@policy`` on the specifications that
    ``host.call_hook`` should dispatch. A plain pluggy call, without a policy. Returns nothing.
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate", timeout=10.0)
def plugyard_configure(host: Host) -> Awaitable[None] | None:
    """Read configuration and prepare, before any plugin is loaded.

    Called once per start, after every adapter is registered; plugins are loaded after it,
    so only adapters receive it. An adapter validates its own section here with
    ``host.config.section("name", Model)``, which also marks the section as read, and
    declares what its plugins will need: its typed service (``host.services.add(...)``), extra
    entry-point groups (``host.add_plugin_group``) and plugins it found itself
    (``host.add_plugin_spec``). May be ``async``.

    A ``ConfigError`` stops the start and is raised from ``host.start()``, so a bad section
    is never half-applied. Any other failure is attributed to the implementing adapter,
    which is then marked failed and unregistered; the host goes on.
    """


@hookspec(firstresult=True)
@versioned(since="1.0")
@policy(errors="raise", result="first", timeout=30.0)
def plugyard_load_plugin(host: Host, spec: PluginSpec) -> PluginHandle | None:
    """Turn a discovered plugin into a handle the host can start and stop.

    Called once per discovered plugin that is not disabled, after ``plugyard_configure``.
    ``spec`` has ``name``, ``target``, ``kind``, ``group``, ``model``, ``options``,
    ``distribution``, ``version`` and ``path``; ``spec.load()`` imports the target, once.
    The plugins of every model come this way: entry points, ``[plugins.NAME]`` tables,
    plugin folders, and the specs adapters add (a blueprint's plugins, a pod run's plugin).
    The adapter that recognises the object returns a :class:`~plugyard.sdk.PluginHandle`
    (subclass :class:`~plugyard.sdk.HandleBase` for the defaults): ``model`` (a string),
    ``order`` (an int: lower starts first and stops last), ``hooks`` (names shown by
    ``plugyard plugins``), ``stop_phase``, ``start()`` and ``stop()`` (plain or ``async``,
    bounded by ``[host] startup_timeout`` and ``shutdown_timeout``) and ``describe()`` (a
    JSON-ready mapping that the ``status`` command shows). A handle that lacks one of them
    fails the plugin with the names of what is missing. Every other adapter returns
    ``None`` and the next one is asked; the first non-``None`` result wins.
    The host's own implementation runs last (``trylast``) and claims objects that carry
    plugyard hook implementations (the built-in ``hooks`` model).

    Raise :class:`~plugyard.host.PluginLoadError` to mark the plugin failed with your
    message; any other exception marks it failed with ``loading failed: <type>:
    <message>``, and a plugin no adapter claims is failed with ``no adapter recognises
    ...``. The host goes on in every case.
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate")
def plugyard_startup(host: Host) -> Awaitable[None] | None:
    """The host is starting: open sockets, start servers, begin background work.

    Called once per start, after every plugin is loaded and before plugins are started. May be
    ``async``. Each implementation gets ``[host] startup_timeout`` seconds (10 by default).
    An implementation that raises or times out is recorded against its plugin, which is then
    marked failed and unregistered; the others still run and the host starts.
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate")
def plugyard_started(host: Host) -> Awaitable[None] | None:
    """Every plugin has started: serve, announce, advertise.

    Called once per start, after the plugins of every model have been started and just
    before ``host.started`` is published, so that what an adapter announces here (an HTTP
    URL in ``host.json``, a server that plugins call back) is there for anyone who reacts to
    ``host.started``. May be ``async``; bounded by ``[host] startup_timeout``. An
    implementation that raises or times out is recorded against its plugin, which is marked
    failed and unregistered; the host still starts. Never start servers from an event
    subscriber: it would hold up every event after it.
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate")
def plugyard_shutdown(host: Host) -> Awaitable[None] | None:
    """The host is stopping: release what ``plugyard_startup`` acquired.

    Called once per stop, after the plugins of every model are stopped, and before plain
    hook plugins are unregistered and supervised processes are stopped. May be ``async``.
    Each implementation gets ``[host] shutdown_timeout`` seconds (10 by default); failures
    and timeouts are logged and the shutdown goes on.
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate", timeout=5.0)
def plugyard_unload(host: Host, name: str) -> Awaitable[None] | None:
    """Plugin ``name`` is being taken out of the running host: release what it holds.

    Called by ``host.unload_plugin(name)`` and ``host.reload_plugin(name)`` (the commands
    ``plugins.unload`` and ``plugins.reload``), while the plugin is still registered and
    before it is stopped, on every implementation: the plugin's own (compare ``name`` with
    your plugin's name) and its adapter's, which removes what it registered for that plugin
    beyond what its handle's ``stop()`` removes. May be ``async``. Each implementation gets
    5 seconds; failures and timeouts are logged against their plugin and the unload goes on.
    Not called when the whole host stops (that is ``plugyard_shutdown``).
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate", timeout=5.0)
def plugyard_event(host: Host, event: Event) -> Awaitable[None] | None:
    """Observe one host event.

    Called for every event the host publishes, in publishing order, after the in-process
    subscribers of that event, from the host's event dispatcher (never from the publisher's
    stack). May be ``async``. Keep it quick: a slow implementation delays later events to
    every other observer, so hand long work to a task or a queue. Failures are isolated.

    At stop, plain hook plugins stay registered until the events still queued have been
    delivered (for up to half of ``[host] shutdown_timeout``): ``host.stopping`` and the
    ``plugin.<name>.stopped`` events of the other models reach ``plugyard_event``. The
    ``plugin.<name>.stopped`` events of plain hook plugins themselves come after they are
    unregistered, so they reach ``host.subscribe`` callbacks only.
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate")
def plugyard_commands(host: Host) -> Sequence[Command] | None:
    """Contribute commands to the host's command plane.

    Called once per start, after every plugin is loaded; the host's built-in commands come
    first. Returns a list of :class:`~plugyard.sdk.Command` ``(name, handler, help,
    params)``, where ``params`` maps property names to ``Param(type, required=False,
    default=None, help="")``. The handler, plain or ``async``, is called with the validated
    properties as keyword arguments and returns a dict (the reply's fields) or a list (sent
    as ``{"results": [...]}``); it raises ``CommandError`` for a failure the caller should
    see. A name already taken (compared case-insensitively) is refused and logged with both
    contributors named; the first one stays.
    """


@hookspec
@versioned(since="1.0")
@policy(errors="isolate")
def plugyard_routes(host: Host) -> Sequence[Any] | None:
    """Contribute HTTP routes to the host's ASGI application.

    Called once, when the adapter that serves HTTP (``plugyard-asyncio``) builds the host's
    ASGI application; the host core does not call it, so without such an adapter it is never
    called. Returns route objects that adapter understands: Starlette ``Route`` or ``Mount``
    objects, or ``(path, endpoint, methods)`` tuples.
    """


@hookspec
@versioned(since="1.0")
def plugyard_cli(cli: click.Group) -> None:
    """Add subcommands to the ``plugyard`` command line.

    Called at most once per ``plugyard`` invocation, with the top-level click group: the
    first time the CLI lists its subcommands (``plugyard --help``) or is asked for one that
    is not built in. It goes to the adapters of the ``plugyard.adapters`` entry points and to
    the objects of the ``plugyard.cli`` entry points (distributions that add commands
    without being adapters), not to plugins, and with ``PLUGYARD_DISABLE_AUTOLOAD=1`` to
    nobody. This is the one way a distribution adds subcommands. Call
    ``cli.add_command(...)``. Each implementation is called on its own: one that raises is
    logged with its name and the others still add theirs. Keep the implementing module
    light and import heavy libraries inside the commands, so that ``plugyard --help`` stays
    fast.
    """

"""The pod-plugin model (Pymemri's): plugins with ``run()`` that write typed items to a pod.

Write a :class:`PodPlugin`, declare :class:`Item` classes, and read and write them through a
:class:`PodClient`. The pod itself (store, HTTP API, launchers) is the ``plugyard-pod``
adapter; this module only needs the standard library.
"""

from __future__ import annotations

from ._auth import (
    AuthenticationFailed,
    AuthenticationTimeout,
    Authenticator,
    OAuthAuthenticator,
    PasswordAuthenticator,
)
from ._client import ENV_RUN_ID, ENV_SPEC_VERSION, ENV_TOKEN, ENV_URL, PodClient
from ._errors import (
    BadRequest,
    Conflict,
    Forbidden,
    ItemNotFound,
    PodError,
    PodUnavailable,
    Unauthorized,
    error_for_status,
)
from ._item import RESERVED, VALUE_TYPES, Account, Field, Item, PluginRun, new_id, schema_of
from ._plugin import PluginAborted, PodPlugin, accepted_config
from ._runner import (
    EXIT_ABORTED,
    EXIT_BAD_INPUT,
    EXIT_DONE,
    EXIT_PLUGIN_ERROR,
    BadInput,
    check_config,
    load_plugin_class,
    main,
    read_config_file,
    read_metadata,
    resolve_config,
    run_plugin,
    start_run,
)
from ._status import TERMINAL, TRANSITIONS, InvalidTransition, RunStatus, check_transition
from ._transport import HttpTransport, Transport

__all__ = [
    "ENV_RUN_ID",
    "ENV_SPEC_VERSION",
    "ENV_TOKEN",
    "ENV_URL",
    "EXIT_ABORTED",
    "EXIT_BAD_INPUT",
    "EXIT_DONE",
    "EXIT_PLUGIN_ERROR",
    "RESERVED",
    "TERMINAL",
    "TRANSITIONS",
    "VALUE_TYPES",
    "Account",
    "AuthenticationFailed",
    "AuthenticationTimeout",
    "Authenticator",
    "BadInput",
    "BadRequest",
    "Conflict",
    "Field",
    "Forbidden",
    "HttpTransport",
    "InvalidTransition",
    "Item",
    "ItemNotFound",
    "OAuthAuthenticator",
    "PasswordAuthenticator",
    "PluginAborted",
    "PluginRun",
    "PodClient",
    "PodError",
    "PodPlugin",
    "PodUnavailable",
    "RunStatus",
    "Transport",
    "Unauthorized",
    "accepted_config",
    "check_config",
    "check_transition",
    "error_for_status",
    "load_plugin_class",
    "main",
    "new_id",
    "read_config_file",
    "read_metadata",
    "resolve_config",
    "run_plugin",
    "schema_of",
    "start_run",
]

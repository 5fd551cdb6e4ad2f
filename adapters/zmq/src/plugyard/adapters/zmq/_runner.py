"""``plugyard-plugin``: run one subscriber plugin, by hand or as the host's child process.

    plugyard-plugin --endpoint ipc://... --pubsub ipc://... --config filename:events.log \\
        myproject.plugins:Logger

Without ``--endpoint``/``--pubsub`` the plugin connects to the host running with the default
configuration (read from its ``host.json``). Kept free of click and pydantic so that a plugin
process starts quickly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

__all__ = ["build_parser", "main"]

_CONFIG_ENV = "PLUGYARD_PLUGIN_CONFIG"


def build_parser() -> argparse.ArgumentParser:
    """The command-line options, as circus-plugin has them."""
    parser = argparse.ArgumentParser(
        prog="plugyard-plugin", description="Run a plugyard subscriber plugin."
    )
    parser.add_argument("plugin", nargs="?", help="the plugin class: pkg.module:Class")
    parser.add_argument("--endpoint", help="the host's command endpoint")
    parser.add_argument("--pubsub", help="the host's event endpoint")
    parser.add_argument("--config", help="options as key:value:::key2:value2")
    parser.add_argument("--check-delay", type=float, default=5.0, help="default: 5.0")
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.add_argument("--log-output", default="-", help="a file, or - for stdout")
    parser.add_argument("--name", help="the plugin's name (default: its class's)")
    parser.add_argument("--curve-keys", help="a JSON file with CURVE client keys")
    parser.add_argument("--host-config", help="find the host from this plugyard.toml")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def _setup_logging(level: str, output: str) -> None:
    handler: logging.Handler = (
        logging.StreamHandler(sys.stdout) if output == "-" else logging.FileHandler(output)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _find_host(config_path: str | None) -> dict[str, Any]:
    """Endpoints of the host running with ``config_path`` (or the default configuration)."""
    from plugyard.host import HostInfoError, default_runtime_dir, read_host_info

    name, folder = "plugyard", None
    if config_path:
        import tomllib
        from pathlib import Path

        data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        host = data.get("host", {})
        name = host.get("name", name)
        if host.get("runtime_dir"):
            folder = Path(config_path).resolve().parent / host["runtime_dir"]
    try:
        info = read_host_info(folder or default_runtime_dir(name))
    except HostInfoError as exc:
        raise SystemExit(f"plugyard-plugin: {exc}; pass --endpoint and --pubsub") from None
    facts = info.get("zmq") or {}
    if not facts.get("endpoint"):
        raise SystemExit("plugyard-plugin: the running host does not advertise ZMQ endpoints")
    return dict(facts)


def main(argv: list[str] | None = None) -> None:
    """Resolve the class, build it with the endpoints and options, run it until stopped."""
    args = build_parser().parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(f"plugyard-plugin {version('plugyard-zmq')}")
        return
    if not args.plugin:
        build_parser().print_usage()
        return
    _setup_logging(args.log_level, args.log_output)
    log = logging.getLogger("plugyard.plugin")
    endpoint, pubsub = args.endpoint, args.pubsub
    keys_file = args.curve_keys
    if not endpoint or not pubsub:
        facts = _find_host(args.host_config)
        endpoint = endpoint or facts["endpoint"]
        pubsub = pubsub or facts["pubsub_endpoint"]
        keys_file = keys_file or facts.get("curve_keys_file")
        if facts.get("max_message_size"):
            os.environ["PLUGYARD_ZMQ_MAX_MESSAGE_SIZE"] = str(facts["max_message_size"])
    if keys_file:
        os.environ["PLUGYARD_ZMQ_CURVE_KEYS"] = keys_file
    from plugyard.host import PluginLoadError, import_target
    from plugyard.sdk.subscriber import SubscriberPlugin, parse_config

    log.info("Loading the plugin...")
    try:
        cls = import_target(args.plugin, where="plugyard-plugin")
    except PluginLoadError as exc:
        raise SystemExit(f"plugyard-plugin: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, SubscriberPlugin)):
        raise SystemExit(f"plugyard-plugin: {args.plugin} is not a SubscriberPlugin class")
    config: dict[str, Any] = json.loads(os.environ.get(_CONFIG_ENV) or "{}")
    config.update(parse_config(args.config))
    log.info("Endpoint: %r", endpoint)
    log.info("Pub/sub: %r", pubsub)
    plugin = cls(endpoint, pubsub, args.check_delay, **config)
    if args.name:
        plugin.name = args.name
    log.info("Starting")
    plugin.start()
    if plugin.refused is not None:
        raise SystemExit(f"plugyard-plugin: the host refused {plugin.name!r}: {plugin.refused}")
    log.info("Stopped")


if __name__ == "__main__":
    main()

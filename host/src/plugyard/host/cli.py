"""Helpers for adapters that add ``plugyard`` subcommands (through ``plugyard_cli``).

``config_option`` adds the usual ``-c/--config``; ``load_config`` reads it the way every
command does; ``parse_properties`` turns ``key=value`` arguments into typed properties;
``setup_logging`` logs to stderr as ``plugyard run`` does; ``print_table`` prints a listing
as aligned columns (a rich table on a terminal, plain text elsewhere).
"""

from __future__ import annotations

from ._cli import (
    cli,
    config_option,
    find_config,
    load_config,
    main,
    parse_properties,
    print_table,
    setup_logging,
)

__all__ = [
    "cli",
    "config_option",
    "find_config",
    "load_config",
    "main",
    "parse_properties",
    "print_table",
    "setup_logging",
]

"""Wiring: configure the shared Celery app from plugyard's config, for a host, a worker or a
client, and what the adapter keeps while a host runs."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugyard.host import Config, ConfigError, Host

from ._jobs import Jobs
from ._service import TaskService
from ._settings import CelerySettings, apply_settings, read_settings
from ._signals import connect_signals
from ._store import JobStore, open_store

__all__ = ["client_service", "configure", "connect", "redact"]

logger = logging.getLogger("plugyard.adapters.celery")


def configure(config: Config, runtime_dir: Path) -> tuple[Any, CelerySettings, Jobs]:
    """Configure ``plugyard.sdk.tasks.app`` from ``[celery]``; returns app, settings, jobs."""
    from plugyard.sdk.tasks import app

    settings = read_settings(
        config.raw_section("celery"),
        where=config.where,
        state_dir=runtime_dir,
        config_error=ConfigError,
    )
    assert settings.state_dir is not None
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    apply_settings(app, settings)
    url, prefix = settings.job_store_url, settings.key_prefix

    def store() -> JobStore:
        return open_store(url, prefix=prefix)

    old = getattr(app, "plugyard_jobs", None)
    if isinstance(old, Jobs):
        old.writer.stop(5.0)
    jobs = Jobs(store)
    app.plugyard_jobs = jobs
    connect_signals(app)
    return app, settings, jobs


def _find_config(explicit: str | os.PathLike[str] | None) -> Config:
    if explicit is not None:
        return Config.from_file(explicit)
    if os.environ.get("PLUGYARD_CONFIG"):
        return Config.from_file(os.environ["PLUGYARD_CONFIG"])
    if Path("plugyard.toml").is_file():
        return Config.from_file("plugyard.toml")
    return Config()


ConfigLike = str | os.PathLike[str] | Mapping[str, Any] | Config | None


def client_service(config: ConfigLike = None) -> TaskService:
    """A :class:`TaskService` for a process that sends and watches tasks without a host."""
    if isinstance(config, Config):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = Config(config)
    else:
        cfg = _find_config(config)
    runtime_dir = Host(cfg, autoload=False).runtime_dir
    return TaskService(*configure(cfg, runtime_dir))


def connect(config: ConfigLike = None) -> Any:
    """Configure the shared app for a client (a script that sends tasks) and return it.

    ``config`` is a ``plugyard.toml`` path, a mapping or a :class:`~plugyard.host.Config`;
    by default ``$PLUGYARD_CONFIG`` or ``./plugyard.toml`` (else the embedded defaults).
    """
    return client_service(config).app


def redact(url: str) -> str:
    """``url`` with its password masked, for logs, ``host.json`` and messages."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)(@)")


def redact_text(text: str) -> str:
    """``text`` with the password of every URL in it (``redis://:PW@``, ``amqp://u:PW@``)
    replaced by ``**``: for messages a user or a log sees."""
    return _URL_PASSWORD.sub(r"\1**\3", text)

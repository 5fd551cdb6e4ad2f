"""The ``[celery]`` table: plugyard's own keys plus any Celery setting, and the embedded
defaults (a SQLite broker, result backend and job store in the state folder)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plugyard.sdk import did_you_mean

__all__ = ["CelerySettings", "apply_settings", "normalize_conf", "read_settings"]


class CelerySettings(BaseModel):
    """The ``[celery]`` section: plugyard's own keys, and any Celery setting by its name.

    Every key that is not plugyard's is a Celery setting, by its current or its old
    upper-case name (``broker_url``, ``TASK_TIME_LIMIT``), kept in ``celery``; an unknown
    key is an error.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path | None = None
    """Folder of the embedded broker's, result backend's and job store's SQLite files;
    none means the host's runtime folder."""
    embedded_worker: bool = True
    """Run a Celery worker thread inside ``plugyard run``."""
    embedded_pool: Literal["threads", "solo"] = "threads"
    """The embedded worker's pool. Celery enforces no time limits in either: use
    ``plugyard worker`` (prefork) when tasks need ``task_time_limit``."""
    embedded_concurrency: int = Field(2, ge=1)
    """Threads of the embedded worker."""
    cancel_timeout: float = Field(30.0, gt=0)
    """Seconds a cancellation may stay CANCELING before it is resolved (the job ends
    CANCELED, marked unacknowledged)."""
    polling_interval: float = Field(0.002, gt=0)
    """Seconds between polls of the embedded broker and of results."""
    job_store: str | None = None
    """Where job status lives (a ``redis://`` or ``sqlite:///`` URL); none means the result
    backend when it is Redis, else a SQLite file in ``state_dir`` (one machine)."""
    key_prefix: str = "plugyard:"
    """Prefix of the job store's Redis keys."""
    celery: dict[str, Any] = {}
    """Celery's own settings: every other key of ``[celery]``, by its Celery name."""

    @property
    def broker_url(self) -> str:
        """The broker in use."""
        return str(self.celery["broker_url"])

    @property
    def result_backend(self) -> str:
        """The result backend in use."""
        return str(self.celery["result_backend"])

    @property
    def job_store_url(self) -> str:
        """Where job status lives: ``job_store``, else a Redis result backend, else SQLite."""
        if self.job_store:
            return self.job_store
        if self.result_backend.startswith(("redis://", "rediss://")):
            return self.result_backend
        assert self.state_dir is not None
        return f"sqlite:///{self.state_dir / 'celery-jobs.sqlite'}"

    @property
    def embedded_broker(self) -> bool:
        """Whether the broker is the SQLite file in the state folder."""
        return self.broker_url.startswith("plugyard+sqlite://")


_OURS = set(CelerySettings.model_fields) - {"celery"}


def _known_settings() -> dict[str, str]:
    """Every Celery setting, by its name and by its old upper-case names."""
    from celery.app.defaults import _TO_NEW_KEY, NAMESPACES, flatten  # type: ignore[import-untyped]

    known = {key: key for key, _ in flatten(NAMESPACES)}
    known.update({key.upper(): key for key in list(known)})
    known.update({old: new for old, new in _TO_NEW_KEY.items()})
    return known


def read_settings(
    raw: dict[str, Any], *, where: str, state_dir: Path, config_error: type[Exception]
) -> CelerySettings:
    """Validate ``[celery]``; an unknown key is an error naming the file and the key."""
    known = _known_settings()
    ours = {key: value for key, value in raw.items() if key in _OURS}
    celery: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _OURS:
            continue
        if key not in known:
            hint = did_you_mean(key, [*known, *_OURS])
            raise config_error(f"{where}: celery.{key}: not a Celery or plugyard setting{hint}")
        problem = _type_problem(known[key], value)
        if problem:
            raise config_error(f"{where}: celery.{key}: {problem}")
        celery[known[key]] = value
    try:
        settings = CelerySettings.model_validate({**ours, "celery": {}})
    except ValidationError as exc:
        item = exc.errors()[0]
        key = ".".join(str(part) for part in item["loc"])
        raise config_error(f"{where}: celery.{key}: {item['msg']}") from None
    folder = settings.state_dir or state_dir
    defaults = {
        "broker_url": f"plugyard+sqlite:///{folder / 'celery-broker.sqlite'}",
        "result_backend": f"plugyard+sqlite:///{folder / 'celery-results.sqlite'}",
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": 10,
    }
    merged = {**defaults, **celery}
    if str(merged["broker_url"]).startswith("plugyard+sqlite://"):
        options = dict(merged.get("broker_transport_options") or {})
        options.setdefault("polling_interval", settings.polling_interval)
        merged["broker_transport_options"] = options
    return settings.model_copy(update={"state_dir": folder, "celery": merged})


def _type_problem(setting: str, value: Any) -> str | None:
    """Why ``value`` cannot be Celery's ``setting`` (by the type Celery declares), or None."""
    import math

    from celery.app.defaults import NAMESPACES, flatten

    kinds = {key: option.type for key, option in flatten(NAMESPACES)}
    kind = kinds.get(setting)
    got = f"got {type(value).__name__} {value!r}"
    if kind in ("string", "str") and not isinstance(value, str):
        return f"expected a string, {got}"
    if kind in ("int", int) and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected an integer, {got}"
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, {got}"
        if not math.isfinite(value):
            return f"expected a finite number, {got}"
    if kind == "bool" and not isinstance(value, bool):
        return f"expected true or false, {got}"
    if kind == "dict" and not isinstance(value, dict):
        return f"expected a table, {got}"
    if kind in ("list", "tuple") and not isinstance(value, list | str):
        return f"expected a list, {got}"
    return None


_reset_lock = threading.Lock()


def _forget_kombu_pools(connection: Any) -> None:
    from kombu import pools

    for group in (pools.producers, pools.connections):
        try:
            del group[connection]
        except KeyError:
            pass


def apply_settings(app: Any, settings: CelerySettings) -> None:
    """Configure the shared app, dropping connections made for an earlier configuration."""
    from . import _results, _transport

    _transport.register()
    _results.register()
    with _reset_lock:
        pool = app._pool
        if pool is not None:
            try:
                pool.force_close_all()
            except Exception:  # pragma: no cover - closing is best effort
                pass
            # kombu keeps the closed pools by broker URL: a later configuration with the
            # same broker would get them back, closed
            _forget_kombu_pools(app.connection_for_write())
        app._pool = None
        amqp = app.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None
        app._backend_cache = None
        app._local = threading.local()
        app.conf.update(settings.celery)
        app.result_poll_interval = settings.polling_interval


def normalize_conf(app: Any) -> None:
    """Rename settings a plugin set by their upper-case or old names (``TASK_TIME_LIMIT``)."""
    known = _known_settings()
    changes = dict(app.conf.changes)
    for key, value in changes.items():
        new = known.get(key)
        if new is not None and new != key:
            app.conf[new] = value

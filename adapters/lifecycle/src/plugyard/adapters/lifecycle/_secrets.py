"""The secrets store behind ``get_secret``: keys and values kept in the deployment's storage.

Values are read only where a blueprint asks for them (``{get_secret: key}``) and by
``plugyard lifecycle secrets get``; messages, logs and events name keys, never values.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import sqlalchemy as sa

from ._storage import Storage, secrets_table

__all__ = ["SecretNotFound", "SecretStore"]

KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class SecretNotFound(KeyError):
    """No secret has the key (the message names the key only)."""


class SecretStore:
    """Secrets in one storage (every deployment in it sees them)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @staticmethod
    def check_key(key: str) -> str:
        """``key`` if valid; ValueError naming what a key may hold otherwise."""
        if not KEY_RE.match(key):
            raise ValueError(
                f"secret key {key!r}: use letters, digits, '.', '-' and '_' (1 to 200)"
            )
        return key

    def set(self, key: str, value: str) -> None:
        """Create or replace a secret."""
        self.check_key(key)
        with self.storage._tx() as conn:
            conn.execute(secrets_table.delete().where(secrets_table.c.key == key))
            conn.execute(
                secrets_table.insert().values(key=key, value=value, updated_at=time.time())
            )

    def get(self, key: str) -> str:
        """A secret's value; SecretNotFound if there is none."""
        with self.storage._tx() as conn:
            row = conn.execute(
                sa.select(secrets_table.c.value).where(secrets_table.c.key == key)
            ).first()
        if row is None:
            raise SecretNotFound(key)
        return str(row[0])

    def value(self, key: str, path: list[Any]) -> Any:
        """A secret for ``get_secret``: the value, or with ``path`` an item of its JSON."""
        raw = self.get(key)
        if not path:
            return raw
        value: Any = json.loads(raw)
        for item in path:
            value = value[item]
        return value

    def list_keys(self) -> list[str]:
        """Every key, sorted."""
        with self.storage._tx() as conn:
            rows = conn.execute(sa.select(secrets_table.c.key).order_by(secrets_table.c.key))
            return [str(r[0]) for r in rows]

    def delete(self, key: str) -> None:
        """Remove a secret; SecretNotFound if there is none."""
        with self.storage._tx() as conn:
            done = conn.execute(secrets_table.delete().where(secrets_table.c.key == key))
        if not done.rowcount:
            raise SecretNotFound(key)

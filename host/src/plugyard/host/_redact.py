"""Secrets kept out of what the host shows: ``status`` details, ``/plugins``, error texts.

A value is hidden when its key looks like a secret (``password``, ``token``, ``secret``,
``key``, ``credentials``, ``auth`` ...); a URL anywhere in a string loses its password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_key", "redact_secrets"]

MASK = "********"
"""What a hidden value is replaced with."""

_SECRET_KEY = re.compile(
    r"(?i)(pass(word|wd|phrase)?|pwd|secret|token|credential|api[_-]?key|private[_-]?key|"
    r"access[_-]?key|(^|[_.-])auth($|[_.-])|authorization|cookie|(^|[_.-])keys?$|^dsn$)"
)
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)(@)")


def is_secret_key(name: str) -> bool:
    """Whether an option called ``name`` probably holds a secret."""
    return bool(_SECRET_KEY.search(name))


def redact_secrets(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` (mappings, lists, strings) with secret-looking entries masked
    and URL passwords replaced, for anything a client or a log is shown."""
    if _depth > 50:
        return MASK
    if isinstance(value, Mapping):
        return {
            key: (
                MASK
                if isinstance(key, str) and is_secret_key(key) and item not in (None, "", False)
                else redact_secrets(item, _depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_secrets(item, _depth + 1) for item in value]
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1" + MASK + r"\3", value)
    return value

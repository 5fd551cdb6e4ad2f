"""Errors of the lifecycle adapter."""

from __future__ import annotations

__all__ = ["BlueprintError", "StorageError"]


class BlueprintError(ValueError):
    """A blueprint is wrong; the message names the file, the YAML path and what was expected."""

    def __init__(self, file: str, path: str, message: str) -> None:
        super().__init__(f"{file}: {path}: {message}" if path else f"{file}: {message}")
        self.file = file
        self.path = path
        self.message = message


class StorageError(RuntimeError):
    """Storage cannot be opened or holds something unexpected (the message says which)."""

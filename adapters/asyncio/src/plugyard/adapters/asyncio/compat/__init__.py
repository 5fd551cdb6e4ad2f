"""Compatibility layers that let plugins written for other hosts run on the asyncio model.

Each layer is a subpackage of its own, imported only when its plugins are found.
"""

from __future__ import annotations

__all__: list[str] = []

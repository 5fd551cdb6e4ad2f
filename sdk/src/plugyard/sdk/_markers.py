"""The marker plugin authors put on hook implementations."""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT_NAME", "hookimpl"]

PROJECT_NAME = "plugyard"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a function or method as an implementation of a plugyard hook.

Accepts pluggy's options: ``tryfirst``, ``trylast``, ``wrapper``, ``hookwrapper``,
``optionalhook`` and ``specname``.
"""

"""Compatibility with the originals of the Celery model, active only when the original is
installed: girder_worker plugins (``girder_worker_plugins`` entry points,
``GirderWorkerPluginABC`` subclasses, tasks declared with ``girder_worker.app``) run on
plugyard's app and worker, and report to Girder's job API when Girder sends them.

Importing this package does not import girder_worker; :func:`contain` does.
"""

from __future__ import annotations

from ._girder import GIRDER_GROUP, GirderApp, contain, installed, is_girder_plugin

__all__ = ["GIRDER_GROUP", "GirderApp", "contain", "installed", "is_girder_plugin"]

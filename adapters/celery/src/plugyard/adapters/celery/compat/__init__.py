"""Compatibility layers for the originals of the Celery model, each active only when its
original is installed.

:mod:`.girder` runs girder_worker plugins (``girder_worker_plugins`` entry points,
``GirderWorkerPluginABC`` subclasses) on plugyard's app and worker.
"""

from __future__ import annotations

__all__: list[str] = []

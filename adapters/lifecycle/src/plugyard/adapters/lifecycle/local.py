"""Local workflows from Python: ``init_env(blueprint_path, name=..., inputs=..., storage=...)``.

Example::

    from plugyard.adapters.lifecycle.local import init_env

    env = init_env("blueprint.yaml", name="web", inputs={"port": 8080})
    env.execute("install", task_retries=0)
    print(env.outputs(), env.storage.get_node_instances())
    env.execute("uninstall")
"""

from __future__ import annotations

from ._environment import (
    DEFAULT_TASK_RETRIES,
    DEFAULT_TASK_RETRY_INTERVAL,
    DEFAULT_THREAD_POOL_SIZE,
    Environment,
    ExecutionResult,
    init_env,
    load_env,
)
from ._storage import Storage

__all__ = [
    "DEFAULT_TASK_RETRIES",
    "DEFAULT_TASK_RETRY_INTERVAL",
    "DEFAULT_THREAD_POOL_SIZE",
    "Environment",
    "ExecutionResult",
    "Storage",
    "init_env",
    "load_env",
]

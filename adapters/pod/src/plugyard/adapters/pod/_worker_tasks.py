"""The Celery task that runs one PluginRun on a worker (registered by :class:`PodRunTasks`).

It reaches the pod over HTTP with the run's own token, exactly as a ``process`` run does;
it never sees the pod's database or the owner token.
"""

from __future__ import annotations

from plugyard.sdk.pod import PodClient, run_plugin
from plugyard.sdk.tasks import app

__all__ = ["TASK_NAME", "run_pod_plugin"]

TASK_NAME = "plugyard.pod.run"
EXIT_BAD_INPUT = 2


@app.task(name=TASK_NAME)  # type: ignore[untyped-decorator]  # Celery has no types
def run_pod_plugin(run_id: str, pod_url: str, token: str) -> int:
    """Run the plugin of run ``run_id`` against the pod at ``pod_url``; its exit code."""
    with PodClient(pod_url, token=token) as client:
        run = client.get_run(run_id)
        try:
            return run_plugin(client, run)
        except ValueError:
            return EXIT_BAD_INPUT

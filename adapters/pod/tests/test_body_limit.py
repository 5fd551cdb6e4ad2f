"""The pod API's body limit: a run token cannot store an item the size of the disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pod_fixtures import Note

from plugyard.adapters.pod import Pod
from plugyard.sdk.pod import HttpTransport, PodClient, PodError

BASE = "http://testserver/pod/v1"


def test_a_body_over_the_limit_is_answered_413_and_nothing_is_stored(pod: Pod) -> None:
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from plugyard.adapters.pod._http import pod_routes

    app = Starlette(routes=pod_routes(lambda: pod, lambda: None, max_body_size=4096))
    with TestClient(app) as web:
        owner = PodClient(transport=HttpTransport(BASE, pod.owner_token, client=web))
        owner.add_to_schema(Note)
        _run, token = owner.create_run(plugin_module="m", plugin_name="P")
        plugin = PodClient(transport=HttpTransport(BASE, token, client=web))
        plugin.create(Note("fits", 1))
        with pytest.raises(PodError, match="HTTP 413: the request body is over the limit of 4096"):
            plugin.create(Note("x" * 10_000, 2))
    assert [n.text for n in owner.search({"type": "Note"})] == ["fits"]


async def test_the_pods_own_server_keeps_the_limit(
    tmp_path: Path,
) -> None:
    from plugyard.adapters.pod import adapter
    from plugyard.sdk.testing import run_host

    config = {
        "host": {"runtime_dir": str(tmp_path / "run"), "name": "podlimit"},
        "pod": {"database": f"sqlite:///{tmp_path / 'pod.db'}", "max_body_size": 4096},
    }
    async with run_host(adapters={"pod": adapter}, config=config) as host:
        runtime: Any = host.pod
        url = await runtime.url()
        headers = {"authorization": f"Bearer {runtime.pod.owner_token}"}
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.post(f"{url}/items", content=b"x" * 10_000, headers=headers)
            assert answer.status_code == 413
            assert (await client.get(f"{url}/health")).status_code == 200

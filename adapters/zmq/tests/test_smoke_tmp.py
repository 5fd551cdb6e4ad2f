from __future__ import annotations

import asyncio
import json
from pathlib import Path

from conftest import zmq_host


async def test_smoke(runtime_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec.jsonl"
    async with zmq_host(
        runtime_dir,
        plugins={"rec": {"use": "zmq_test_plugins:Recorder", "out": str(out), "call_status": True}},
    ) as host:
        print(host.plugins)
        for i in range(5):
            host.publish("app.thing", n=i)
        await asyncio.sleep(0.5)
        print(await host.call("status", name="rec"))
        print(await host.call("stats"))
    print(out.read_text())
    print(host.processes.logs("rec"))

"""A miniature host: supervise two sleeping children, print their pids, then wait to be killed."""

import asyncio
import json
import os
import sys

from plugyard.host._supervisor import ProcessSpec, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


async def main() -> None:
    supervisor = Supervisor()
    pids = []
    for index in range(2):
        info = await supervisor.start(ProcessSpec(name=f"sleeper-{index}", argv=SLEEPER))
        pids.append(info.pid)
    print(json.dumps({"host": os.getpid(), "children": pids}), flush=True)
    await asyncio.sleep(60)


asyncio.run(main())

"""Lifecycle operations for the chaos tests: each records its own run in the instance's
runtime properties, and one blocks the first time (to be killed there)."""

from __future__ import annotations

import os
import time
from typing import Any

from plugyard.sdk.lifecycle import ctx, operation


@operation(resumable=True)
def step(marker: str = "", block_on: str = "", **kwargs: Any) -> None:
    """Append this operation's name to runtime property ``ran``; on node ``block_on``'s
    configure, the first time, touch ``marker`` and hang."""
    name = ctx.operation.name.rsplit(".", 1)[-1]
    ctx.instance.runtime_properties["ran"] = [*ctx.instance.runtime_properties.get("ran", []), name]
    if ctx.node.id == block_on and name == "configure" and not os.path.exists(marker):
        with open(marker, "w", encoding="utf-8") as out:
            out.write(str(os.getpid()))
        time.sleep(60)

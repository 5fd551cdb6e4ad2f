"""``note`` logs a line; ``wait_for_gate`` waits (up to a minute) for the gate file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from plugyard.sdk.lifecycle import NonRecoverableError, ctx, operation


@operation
def note(**kwargs: Any) -> None:
    """Log which step ran."""
    ctx.logger.info("step %s ran", ctx.instance.id)


@operation
def wait_for_gate(**kwargs: Any) -> None:
    """Wait for the gate file named by the node's ``gate`` property."""
    gate = Path(ctx.node.properties["gate"])
    ctx.logger.info("waiting for %s", gate)
    deadline = time.monotonic() + 60
    while not gate.exists():
        if time.monotonic() > deadline:
            raise NonRecoverableError(f"{gate} never appeared")
        time.sleep(0.05)
    ctx.instance.runtime_properties["gate_opened"] = True

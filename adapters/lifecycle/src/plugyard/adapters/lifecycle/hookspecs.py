"""The lifecycle adapter's own hook specification, added to the host through
``plugyard_addhooks``: wrap every lifecycle operation.

Example, a plugin that times every operation::

    from plugyard.sdk import hookimpl

    class Timer:
        @hookimpl(wrapper=True)
        def plugyard_lifecycle_operation(self, call):
            started = time.perf_counter()
            try:
                return (yield)
            finally:
                print(call.instance_id, call.operation, time.perf_counter() - started)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from plugyard.sdk import PROJECT_NAME

if TYPE_CHECKING:
    from ._runner import OperationCall

__all__ = ["plugyard_lifecycle_operation"]

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def plugyard_lifecycle_operation(call: OperationCall) -> Any:
    """Run one lifecycle operation and return its result.

    The adapter's own implementation (``trylast``) runs the operation; other plugins add
    ``wrapper=True`` implementations that ``yield`` to it, to audit, time or veto (raise) an
    operation. ``call`` carries the deployment, execution, instance, operation name,
    implementation, retry number, ``ctx`` and keyword arguments. Called with plain pluggy
    semantics in the worker thread that runs the operation (for ``async`` operations too,
    which then hold a worker thread while wrappers are registered). A wrapper's exception is
    the operation's exception.
    """

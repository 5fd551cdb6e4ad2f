"""The example's task, declared on the app every plugin shares."""

from __future__ import annotations

from plugyard.sdk.tasks import app


@app.task
def fibonacci(n: int) -> int:
    """The n-th Fibonacci number, computed the slow recursive way (26 gives 121393)."""
    if n == 1 or n == 2:
        return 1
    return fibonacci(n - 1) + fibonacci(n - 2)  # type: ignore[no-any-return]

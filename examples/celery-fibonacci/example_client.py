"""Send ``fibonacci(26)`` to a running worker and print the result (121393).

Run a worker first (``plugyard worker -l info``, or ``plugyard run``) with the same
configuration: ``--config FILE`` here, else ``$PLUGYARD_CONFIG`` or ``./plugyard.toml``.
"""

from __future__ import annotations

import sys

from plugyard.adapters.celery import connect


def main() -> None:
    connect(sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--config" else None)
    from gwexample.analyses.tasks import fibonacci

    print(fibonacci.delay(26).get(timeout=120))


if __name__ == "__main__":
    main()

import logging
import os
import sys
import time

from girder_worker.app import app

logger = logging.getLogger(__name__)


@app.task
def fibonacci(n):
    if n == 1 or n == 2:
        return 1
    return fibonacci(n - 1) + fibonacci(n - 2)


@app.task(bind=True)
def chatty(self, name):
    print(f"hello from chatty, {name}")
    sys.stderr.write("a warning on stderr\n")
    logger.warning("a logged warning for %s", name)
    if self.job_manager is not None:
        self.job_manager.updateProgress(total=4, current=3, message="almost there")
        self.job_manager.write("written to the job log\n")
    return f"hi {name}"


@app.task(bind=True)
def wait_for_cancel(self, started_file, limit=60.0):
    # Announces it runs (a file the test waits on), then loops until it is canceled.
    with open(started_file, "w") as handle:
        handle.write(str(os.getpid()))
    deadline = time.monotonic() + limit
    while not self.canceled:
        if time.monotonic() > deadline:
            return "not canceled"
        time.sleep(0.01)
    return "canceled"

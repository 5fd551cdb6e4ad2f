"""The web server's lifecycle operations: ``start`` serves a fresh folder on the node's port,
``stop`` ends the server again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from plugyard.sdk.lifecycle import (
    NonRecoverableError,
    ctx,
    exception_to_error_cause,
    operation,
)

PID_FILE = "python-webserver.pid"


def verify_server_is_up(port: int, attempts: int = 50, delay: float = 0.1) -> None:
    """Fetch the page until it answers; NonRecoverableError with the last cause if it never does."""
    last: tuple[BaseException | None, TracebackType | None] = (None, None)
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                response.read()
            return
        except OSError:
            _, exc, tb = sys.exc_info()
            last = (exc, tb)
            time.sleep(delay)
    raise NonRecoverableError(
        "Failed to start HTTP webserver", causes=[exception_to_error_cause(*last)]
    )


@operation
def start(**kwargs: Any) -> None:
    """Write index.html into a new folder and serve it on the node's ``port``."""
    webserver_root = tempfile.mkdtemp(prefix="python-webserver-")
    ctx.instance.runtime_properties["webserver_root"] = webserver_root
    port = int(ctx.node.properties["port"])
    page = ctx.get_resource_and_render("templates/index.html", {"port": port})
    Path(webserver_root, "index.html").write_text(page, encoding="utf-8")
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    ctx.logger.info("Starting HTTP server using: %s", " ".join(command))
    server = subprocess.Popen(
        command,
        cwd=webserver_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    Path(webserver_root, PID_FILE).write_text(str(server.pid), encoding="utf-8")
    ctx.instance.runtime_properties["pid"] = server.pid
    ctx.instance.update()
    verify_server_is_up(port)


@operation
def stop(**kwargs: Any) -> None:
    """Stop the server whose pid ``start`` stored in the web server's folder."""
    webserver_root = ctx.instance.runtime_properties.get("webserver_root")
    if not webserver_root:
        ctx.logger.info("HTTP server was never started")
        return
    try:
        pid = int(Path(webserver_root, PID_FILE).read_text(encoding="utf-8").strip())
    except OSError:
        ctx.logger.info("HTTP server is not running!")
        return
    ctx.logger.info("Stopping HTTP server [pid=%s]", pid)
    try:
        os.kill(pid, signal.SIGTERM)
        if not _gone_within(pid, 2.5):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    ctx.instance.runtime_properties["stopped"] = True


def _gone_within(pid: int, seconds: float) -> bool:
    """Wait for ``pid`` to end (reaping it when it is our own child)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.02)
    return False

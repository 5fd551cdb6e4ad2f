"""Plugins the pod tests launch, in process and as real subprocesses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from plugyard.sdk.pod import Item, PasswordAuthenticator, PluginAborted, PodPlugin


class Person(Item):
    name: str | None


class Note(Item):
    text: str | None
    n: int | None
    author: Person | None


class Quick(PodPlugin):
    """Does nothing: the launch benchmark's trivial plugin."""

    def run(self) -> None:
        pass


class Writer(PodPlugin):
    """Writes ``count`` Notes one at a time, with progress."""

    schema_classes = [Note]

    def __init__(self, count: int = 10, tag: str = "w", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = count
        self.tag = tag

    def run(self) -> None:
        for n in range(self.count):
            self.client.create(Note(f"{self.tag}-{n}", n))
        self.set_progress(1.0, "all written")


class Stepper(PodPlugin):
    """Reports progress in ``steps`` steps, ``pause`` seconds apart."""

    def __init__(self, steps: int = 5, pause: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps = steps
        self.pause = pause

    def run(self) -> None:
        for n in range(self.steps):
            time.sleep(self.pause)
            self.set_progress((n + 1) / self.steps, f"step {n + 1} of {self.steps}")


class Boom(PodPlugin):
    def run(self) -> None:
        raise RuntimeError("the plugin broke on purpose")


class Hang(PodPlugin):
    """Sleeps; on abort, writes ``marker`` to show it was told before being stopped."""

    def __init__(self, marker: str = "", seconds: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marker = marker
        self.seconds = seconds

    def run(self) -> None:
        try:
            self.set_progress(0.5, "sleeping")
            time.sleep(self.seconds)
        except PluginAborted:
            if self.marker:
                Path(self.marker).write_text("told", encoding="utf-8")
            raise


class AsyncWriter(PodPlugin):
    schema_classes = [Note]

    async def run(self) -> None:
        self.client.create(Note("async", 1))


class Login(PodPlugin):
    """Asks for credentials and accepts only ann / s3cret."""

    schema_classes = [Note]

    def run(self) -> None:
        def login(username: str, password: str) -> str:
            if (username, password) != ("ann", "s3cret"):
                raise PermissionError("wrong credentials")
            return username

        auth = PasswordAuthenticator(
            self.client,
            self.plugin_run,
            poll_interval=0.02,
            timeout=20,  # type: ignore[arg-type]
        )
        who = auth.authenticate(login)
        self.client.create(Note(f"logged in as {who}", 1))


class Sentinel(PodPlugin):
    """A daemon: writes one Note, then stays up until the run is aborted."""

    schema_classes = [Note]
    daemon = True

    def run(self) -> None:
        self.client.create(Note("on watch", 1))


class FromTheFuture(Writer):
    """A writer written against a hook spec no host here speaks."""

    plugyard_spec_version = "2.0"

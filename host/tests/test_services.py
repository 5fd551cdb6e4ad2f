"""Typed services: one per adapter per host, reached as ``MyService.of(host)``, checked by
mypy; the old ``host.NAME`` attributes and method names still work, with a warning."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from plugyard.host import Host, Service, ServiceError
from plugyard.sdk import Command, hookimpl


class Counter(Service):
    name = "counter"
    legacy_attributes = {"counter": "", "bump": "bump"}

    def __init__(self) -> None:
        self.count = 0

    def bump(self) -> int:
        self.count += 1
        return self.count


class CounterAdapter:
    name = "counter"

    @hookimpl
    def plugyard_configure(self, host: Any) -> None:
        host.services.add(Counter())

    @hookimpl
    def plugyard_commands(self, host: Any) -> list[Command]:
        counter = Counter.of(host)
        return [Command("counter.bump", lambda: {"count": counter.bump()}, aliases=("bump",))]


async def test_a_service_is_found_by_its_class_per_host() -> None:
    first, second = (Host(autoload=False, adapters=[CounterAdapter()]) for _ in range(2))
    await first.load()
    await second.load()
    assert Counter.of(first) is not Counter.of(second)
    Counter.of(first).bump()
    assert (Counter.of(first).count, Counter.of(second).count) == (1, 0)
    with pytest.raises(ValueError, match="already has a Counter"):
        first.services.add(Counter())


async def test_a_missing_service_says_which_and_find_returns_none() -> None:
    host = Host(autoload=False)
    await host.load()
    assert Counter.find(host) is None
    with pytest.raises(ServiceError, match=r"no Counter \(services: none\).*installed"):
        Counter.of(host)


async def test_old_attribute_names_and_commands_work_with_a_deprecation_warning() -> None:
    async with Host(autoload=False, adapters=[CounterAdapter()]) as host:
        with pytest.warns(DeprecationWarning, match=r"host\.counter is deprecated; use Counter"):
            assert host.counter is Counter.of(host)
        with pytest.warns(DeprecationWarning, match=r"use Counter\.of\(host\)\.bump"):
            assert host.bump() == 1
        with pytest.warns(DeprecationWarning, match="command 'bump' is deprecated"):
            assert await host.run_command("bump") == {"count": 2}
        assert await host.run_command("counter.bump") == {"count": 3}
        with pytest.warns(DeprecationWarning, match=r"host\.call\(\) is now host\.run_command"):
            assert await host.call("counter.bump") == {"count": 4}
        with pytest.warns(DeprecationWarning, match=r"host\.acall\(\) is now host\.call_hook"):
            outcome = await host.acall("plugyard_commands", host=host)
        assert "counter" in [r.plugin for r in outcome.results]


TYPO = """
from plugyard.adapters.celery import CeleryService
from plugyard.host import Host


def send(host: Host) -> None:
    CeleryService.of(host).sned("fibonacci", 26)
"""


def test_mypy_catches_a_typo_on_a_service(tmp_path: Path) -> None:
    source = tmp_path / "typo.py"
    source.write_text(textwrap.dedent(TYPO))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--strict", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert '"CeleryService" has no attribute "sned"' in done.stdout, done.stdout

"""The ``console`` fixture: a host of examples/plugyard.toml (one plugin of each model)
with the console, on a background thread, serving HTTP on a free port."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _console_helpers import EXAMPLE_CONFIG, SAMPLE_TASKS, Console, example_config

from plugyard.host.testing import HostRunner


class SlowStartRunner(HostRunner):
    """A host runner whose host may take up to two minutes to start or stop (a subscriber
    process, a Celery worker and a web server, on a busy machine)."""

    def run(self, coro: Any, timeout: float = 120.0) -> Any:
        return super().run(coro, timeout)


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    from plugyard.console import ConsoleService
    from plugyard.host import Config

    if str(SAMPLE_TASKS) not in sys.path:
        sys.path.insert(0, str(SAMPLE_TASKS))
    tmp = tmp_path_factory.mktemp("console")
    config = Config(example_config(tmp), path=EXAMPLE_CONFIG)
    runner = SlowStartRunner(config=config, autoload=True)
    with runner:
        url = runner.host.advertised["console_url"]
        token = ConsoleService.of(runner.host).token
        yield Console(runner, url, token, tmp)

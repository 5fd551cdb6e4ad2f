"""The ``console`` fixture: a host of examples/plugyard.toml (one plugin of each model)
with the console, on a background thread, serving HTTP on a free port."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _console_helpers import EXAMPLE_CONFIG, SAMPLE_TASKS, Console, example_config


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    from plugyard.console import ConsoleService
    from plugyard.host import Config
    from plugyard.host.testing import HostRunner

    if str(SAMPLE_TASKS) not in sys.path:
        sys.path.insert(0, str(SAMPLE_TASKS))
    tmp = tmp_path_factory.mktemp("console")
    config = Config(example_config(tmp), path=EXAMPLE_CONFIG)
    with HostRunner(config=config, autoload=True) as runner:
        url = runner.host.advertised["console_url"]
        token = ConsoleService.of(runner.host).token
        yield Console(runner, url, token, tmp)

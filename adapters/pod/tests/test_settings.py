"""The ``[pod]`` section: database URLs and the address the pod API may bind."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugyard.adapters.pod import PodSettings
from plugyard.host import Config, ConfigError


def test_a_plain_postgresql_url_uses_the_installed_psycopg_driver(tmp_path: Path) -> None:
    settings = PodSettings(database="postgresql://me@127.0.0.1:5432/pods")
    assert settings.database_url(tmp_path) == "postgresql+psycopg://me@127.0.0.1:5432/pods"
    explicit = PodSettings(database="postgresql+psycopg://me@127.0.0.1/pods")
    assert explicit.database_url(tmp_path) == "postgresql+psycopg://me@127.0.0.1/pods"
    assert PodSettings().database_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/pod.sqlite3"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses_are_accepted(host: str) -> None:
    assert PodSettings(http_host=host).http_host == host


def test_a_remote_address_needs_allow_remote(tmp_path: Path) -> None:
    path = tmp_path / "plugyard.toml"
    path.write_text('[pod]\nhttp_host = "0.0.0.0"\n')
    with pytest.raises(ConfigError) as info:
        Config.from_file(path).section("pod", PodSettings)
    message = str(info.value)
    assert str(path) in message
    assert "http_host: 0.0.0.0 is reachable from other machines" in message
    assert "allow_remote = true" in message
    assert PodSettings(http_host="0.0.0.0", allow_remote=True).allow_remote


def test_a_host_name_is_refused_with_what_is_expected() -> None:
    with pytest.raises(ValueError, match="expected an IP address such as 127.0.0.1"):
        PodSettings(http_host="pods.example.com")

"""Broker passwords never reach the command line's output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _celery_helpers import make_setup

from plugyard.adapters.celery._core import redact_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("cannot send to amqp://guest:S3cretPW@h:5672//: refused", "amqp://guest:**@h:5672//"),
        ("Error connecting to redis://:S3cretPW@127.0.0.1:1/0.", "redis://:**@127.0.0.1:1/0."),
        ("rediss://user:p%40ss@h/0 and amqp://u:x@y", "rediss://user:**@h/0 and amqp://u:**@y"),
        ("redis://127.0.0.1:6379/0 has no password", "redis://127.0.0.1:6379/0 has no password"),
    ],
)
def test_passwords_in_urls_are_masked(text: str, shown: str) -> None:
    masked = redact_text(text)
    assert shown in masked
    assert "S3cretPW" not in masked and "p%40ss" not in masked


def test_a_failed_send_names_the_broker_without_its_password(tmp_path: Path) -> None:
    url = '"redis://:S3cretPW@127.0.0.1:1/0"'
    for setup in make_setup("embedded", tmp_path, tmp_path, broker_url=url):
        out = setup.tasks("send", "celery_sample.tasks.add", "1", "2", check=False, timeout=60)
        assert out.returncode != 0
        assert "cannot send 'celery_sample.tasks.add' to redis://:**@127.0.0.1:1/0" in out.stderr
        assert "S3cretPW" not in out.stderr + out.stdout

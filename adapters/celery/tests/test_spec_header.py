"""Which task messages a worker refuses by the hook spec version in their header."""

from __future__ import annotations

import pytest

from plugyard.sdk import SPEC_VERSION
from plugyard.sdk.tasks import SPEC_HEADER
from plugyard.sdk.tasks._task import spec_refusal

MAJOR, MINOR = (int(part) for part in SPEC_VERSION.split("."))


def test_the_header_has_its_documented_name() -> None:
    assert SPEC_HEADER == "plugyard_spec"


@pytest.mark.parametrize(
    "sent",
    [None, SPEC_VERSION, f"{MAJOR}.{MINOR + 1}"],
    ids=["no header (a plain Celery client)", "the same version", "a newer minor host"],
)
def test_a_worker_serves(sent: str | None) -> None:
    assert spec_refusal("t.add", sent) is None


def test_a_worker_refuses_a_host_of_another_major() -> None:
    refusal = spec_refusal("t.add", f"{MAJOR + 1}.0")
    assert refusal is not None
    assert refusal.startswith("task 't.add' refused: ")
    assert f"this worker speaks hook spec {SPEC_VERSION}" in refusal
    assert f"the host that sent it speaks {MAJOR + 1}.0" in refusal
    assert "a different major version" in refusal


def test_a_worker_refuses_a_host_older_than_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugyard.sdk import _versions

    monkeypatch.setattr(_versions, "SPEC_VERSION", f"{MAJOR}.{MINOR + 1}")
    refusal = spec_refusal("t.add", SPEC_VERSION)
    assert refusal is not None and "upgrade plugyard-host" in refusal


def test_a_malformed_header_is_refused_with_the_expected_form() -> None:
    refusal = spec_refusal("t.add", "one")
    assert refusal is not None and "'one' is not of the form MAJOR.MINOR" in refusal

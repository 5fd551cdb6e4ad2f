"""The version of plugyard's hook contract, which plugins declare and handshakes exchange."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SPEC_VERSION", "SPEC_VERSION_ATTR", "parse_spec_version", "spec_version_problem"]

SPEC_VERSION: Final = "1.0"
"""The hook contract this SDK speaks: ``MAJOR.MINOR``. A minor release only adds (hooks,
optional arguments, deprecations); a major release may remove."""

SPEC_VERSION_ATTR: Final = "plugyard_spec_version"
"""The attribute by which a plugin declares the contract it was written against."""

_FORM = re.compile(r"(\d+)\.(\d+)")


def parse_spec_version(text: str) -> tuple[int, int]:
    """``"1.2"`` as ``(1, 2)``; ``ValueError`` naming the expected form otherwise."""
    found = _FORM.fullmatch(str(text).strip())
    if found is None:
        raise ValueError(f"hook spec version {text!r} is not of the form MAJOR.MINOR (e.g. '1.0')")
    return int(found[1]), int(found[2])


def spec_version_problem(theirs: str, ours: str = SPEC_VERSION) -> str | None:
    """Why a plugin written against hook spec ``theirs`` cannot work with a host that speaks
    ``ours``, or ``None``: the majors must agree, and the host must be at least as new."""
    try:
        their_version = parse_spec_version(theirs)
    except ValueError as exc:
        return str(exc)
    our_version = parse_spec_version(ours)
    if their_version[0] != our_version[0]:
        return (
            f"written against hook spec {theirs}, but the host speaks {ours}: "
            "a different major version"
        )
    if their_version > our_version:
        return (
            f"written against hook spec {theirs}, newer than the host's {ours}: "
            "upgrade plugyard-host"
        )
    return None

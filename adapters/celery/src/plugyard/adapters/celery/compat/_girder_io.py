"""girder_worker's ``girder_io`` serializer, with plain JSON decoded as plain JSON.

``girder_worker.app`` registers ``girder_io`` (jsonpickle) under the content type
``application/json``. kombu picks a decoder by content type, so from then on every JSON body
in the process, each task message and each result, goes through jsonpickle, which costs
several times what ``json.loads`` does. Only text that carries a jsonpickle tag (``py/...``)
or an encoded key (``json://...``, with ``keys=True``) decodes differently from plain JSON:
:func:`install` registers ``girder_io`` again with a decoder that sends such text to
girder_worker's own decoder and everything else to ``json.loads``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["install", "plain_json_first"]

SERIALIZER = "girder_io"

_TEXT_MARKERS = ("py/", "json://")
_BYTES_MARKERS = (b"py/", b"json://")


def plain_json_first(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``decode`` (girder_worker's jsonpickle decoder) for text with a jsonpickle marker,
    ``json.loads`` for the rest (where both give the same value)."""

    def girder_io_decode(data: Any) -> Any:
        if isinstance(data, str):
            markers: tuple[Any, ...] = _TEXT_MARKERS
        elif isinstance(data, bytes | bytearray):
            markers = _BYTES_MARKERS
        else:
            return decode(data)
        if any(marker in data for marker in markers):
            return decode(data)
        return json.loads(data)

    girder_io_decode.plugyard_wraps = decode  # type: ignore[attr-defined]
    return girder_io_decode


def install(module: Any) -> None:
    """Register ``girder_io`` again with :func:`plain_json_first` over ``module``'s decoder
    (``module`` is ``girder_worker.app``); a no-op when it is installed already."""
    from kombu.serialization import register, registry

    encode = getattr(module, "_girder_io_encode", None)
    decode = getattr(module, "_girder_io_decode", None)
    if encode is None or decode is None:
        return
    current = registry._decoders.get("application/json")
    if getattr(current, "plugyard_wraps", None) is decode:
        return
    register(  # type: ignore[no-untyped-call]
        SERIALIZER,
        encode,
        plain_json_first(decode),
        content_type="application/json",
        content_encoding="utf-8",
    )

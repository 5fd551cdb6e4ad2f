"""girder_worker's ``girder_io`` serializer once plugyard contains it: every JSON body of the
process still decodes to what girder_worker's jsonpickle decoder gives, plain JSON through
``json.loads``."""

from __future__ import annotations

import datetime
import json
import types
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("girder_worker", reason="girder-worker is not installed")
jsonpickle = pytest.importorskip("jsonpickle")

from plugyard.adapters.celery.compat import _girder_io  # noqa: E402


def _jsonpickle_decode(data: Any) -> Any:
    return jsonpickle.decode(data, keys=True)


_calls: list[Any] = []


def _counting_decode(data: Any) -> Any:
    _calls.append(data)
    return _jsonpickle_decode(data)


decode = _girder_io.plain_json_first(_counting_decode)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(_json_values)
def test_plain_json_decodes_as_girder_worker_decodes_it(value: Any) -> None:
    text = json.dumps(value)
    assert decode(text) == _jsonpickle_decode(text)
    assert decode(text.encode()) == _jsonpickle_decode(text.encode())


def test_a_task_message_body_skips_jsonpickle() -> None:
    _calls.clear()
    message = [[2, 3], {}, {"callbacks": None, "errbacks": None, "chain": None}]
    assert decode(json.dumps(message).encode()) == message
    assert _calls == []


def test_jsonpickle_objects_and_encoded_keys_go_to_girder_workers_decoder() -> None:
    value = {1: datetime.date(2024, 5, 6), "when": datetime.datetime(2024, 5, 6, 7, 8)}
    text = jsonpickle.encode(value, keys=True)
    _calls.clear()
    assert decode(text) == value
    assert decode(text.encode()) == value
    assert len(_calls) == 2


def test_text_that_only_looks_tagged_still_decodes_right() -> None:
    text = json.dumps({"path": "/data/happy/py/file.json", "url": "json://x"})
    assert decode(text) == json.loads(text)


def test_install_wraps_girder_workers_decoder_once() -> None:
    from kombu.serialization import registry

    module = types.SimpleNamespace(
        _girder_io_encode=lambda data: jsonpickle.encode(data, keys=True),
        _girder_io_decode=_jsonpickle_decode,
    )
    tables = ("_encoders", "_decoders", "type_to_name", "name_to_type")
    saved = {table: dict(getattr(registry, table)) for table in tables}
    try:
        _girder_io.install(module)
        installed = registry._decoders["application/json"]
        assert installed.plugyard_wraps is module._girder_io_decode
        _girder_io.install(module)
        assert registry._decoders["application/json"] is installed
        assert registry.loads(b'{"a": [1, 2]}', "application/json", "utf-8") == {"a": [1, 2]}
    finally:
        for table, content in saved.items():
            getattr(registry, table).clear()
            getattr(registry, table).update(content)

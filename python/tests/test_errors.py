"""The error mapping (pinned), the hierarchy, and the facts real errors carry."""

from __future__ import annotations

import builtins
from typing import Callable

import pytest

import durastream
from durastream import DurableStream, _durastream, errors

#: Core error code -> exception class. Changing this table is an API change.
PINNED = {
    "NOT_FOUND": errors.StreamNotFoundError,
    "GONE": errors.StreamGoneError,
    "CONFLICT": errors.StreamConflictError,
    "STREAM_CLOSED": errors.StreamClosedError,
    "SEQUENCE_CONFLICT": errors.SeqConflictError,
    "SEQUENCE_GAP": errors.SequenceGapError,
    "STALE_EPOCH": errors.StaleEpochError,
    "BAD_REQUEST": errors.BadRequestError,
    "INVALID_OFFSET": errors.InvalidOffsetError,
    "UNAUTHORIZED": errors.UnauthorizedError,
    "UNEXPECTED_STATUS": errors.UnexpectedStatusError,
    "RETRY_EXHAUSTED": errors.RetryExhaustedError,
    "PARSE_ERROR": errors.ParseError,
    "NETWORK_ERROR": errors.NetworkError,
    "TIMEOUT": errors.RequestTimeoutError,
    "INVALID_ARGUMENT": errors.InvalidArgumentError,
    "BUFFER_FULL": errors.BufferFullError,
    "PRODUCER_CLOSED": errors.ProducerClosedError,
}


def test_every_core_kind_maps_to_its_pinned_class() -> None:
    table = dict(_durastream.error_classes())
    assert set(table) == set(PINNED)
    for code, cls in PINNED.items():
        assert getattr(errors, table[code]) is cls
        assert errors.class_for_code(code) is cls
        assert cls.default_code == code
    assert errors.class_for_code("SOMETHING_NEW") is errors.DurableStreamError


def test_hierarchy() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.DurableStreamError), name
            assert getattr(durastream, name) is obj
    assert issubclass(errors.InvalidArgumentError, ValueError)
    assert issubclass(errors.RequestTimeoutError, builtins.TimeoutError)
    assert issubclass(errors.RequestTimeoutError, errors.NetworkError)
    assert issubclass(errors.InvalidOffsetError, errors.BadRequestError)
    assert errors.FetchError is errors.NetworkError
    assert errors.RetentionGoneError is errors.StreamGoneError
    assert errors.SequenceConflictError is errors.SeqConflictError


def test_str_and_repr() -> None:
    e = errors.StreamNotFoundError("Stream not found: x", status=404)
    assert str(e) == "Stream not found: x (status=404) [NOT_FOUND]"
    assert repr(e) == "StreamNotFoundError(message='Stream not found: x', code='NOT_FOUND', status=404)"
    assert e.attempts == 1 and not e.retryable


def test_not_found_facts(url: str) -> None:
    with pytest.raises(errors.StreamNotFoundError) as info:
        DurableStream(url).head()
    e = info.value
    assert e.code == "NOT_FOUND" and e.status == 404
    assert e.url == url and e.stream_path == url[url.index("/v1/"):]
    assert not e.retryable and e.attempts == 1
    assert e.stream_path in e.message or url in e.message


def test_closed_stream_facts(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    s.append("x")
    final = s.close().final_offset
    with pytest.raises(errors.StreamClosedError) as info:
        s.append("y")
    assert info.value.status == 409
    assert info.value.final_offset in (None, final)


def test_stale_epoch_facts(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    with s.producer("w", epoch=5) as p:
        p.append("a")
    old = s.producer("w", epoch=2)
    old.append("b")
    with pytest.raises(errors.StaleEpochError) as info:
        old.flush()
    assert info.value.current_epoch == 5 and info.value.status == 403
    assert info.value.code == "STALE_EPOCH"


def test_invalid_argument_names_the_option() -> None:
    with pytest.raises(errors.InvalidArgumentError) as info:
        durastream.RetryOptions(multiplier=0.5)
    assert info.value.argument == "multiplier" and "multiplier" in info.value.message
    assert info.value.status is None


def test_retry_exhausted_facts(url: str, inject: Callable[..., None]) -> None:
    DurableStream.create(url)
    s = DurableStream(url, retry=durastream.RetryOptions(max_retries=2, initial_delay_ms=1,
                                                        max_delay_ms=5))
    inject(url, status=503, count=10, retryAfter=0, method="GET")
    with pytest.raises(errors.RetryExhaustedError) as info:
        s.stream(live=False).read_bytes()
    e = info.value
    assert e.attempts == 3 and e.status == 503 and e.retryable


def test_network_error_facts() -> None:
    with durastream.Server() as srv:
        url = srv.stream_url("gone")
    s = DurableStream(url, retry=durastream.RetryOptions.none())
    with pytest.raises(errors.NetworkError) as info:
        s.head()
    assert info.value.retryable and info.value.status is None


def test_errors_are_raised_from_async_code(url: str) -> None:
    from conftest import run

    async def main() -> None:
        with pytest.raises(errors.StreamNotFoundError) as info:
            await durastream.AsyncDurableStream(url).head()
        assert info.value.status == 404

    run(main())

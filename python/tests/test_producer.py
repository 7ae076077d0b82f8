"""The idempotent producer, sync and async: batching, exactly-once under injected faults,
pipelining, closing, epochs and fencing, buffer limits, error callbacks."""

from __future__ import annotations

import time
from typing import Callable, List

import pytest
from conftest import raw_post, run

import durastream
from durastream import AsyncDurableStream, DurableStream, IdempotentProducer


def test_appends_are_batched(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    with s.producer("batcher", linger_ms=20) as p:
        started = time.monotonic()
        for i in range(2000):
            p.append({"i": i})
        assert time.monotonic() - started < 2.0  # append never waits on the network
        p.flush()
        assert p.buffered_bytes == 0
        assert p.next_seq < 200  # far fewer requests than items
        assert p.last_offset == s.head().offset
    assert s.stream(live=False).read_json() == [{"i": i} for i in range(2000)]


def test_pending_and_in_flight_counts(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    # A linger far beyond the test: nothing is sent before flush().
    with s.producer("counts", linger_ms=600_000) as p:
        for item in (b"a", b"b", b"c"):
            p.append(item)
        assert (p.pending_count, p.in_flight_count) == (3, 0)
        p.flush()
        assert (p.pending_count, p.in_flight_count) == (0, 0)


def test_batches_respect_item_and_byte_limits(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    p = IdempotentProducer(s, "limits", max_batch_items=10, linger_ms=50)
    for i in range(100):
        p.append(f"{i % 10}")
    p.flush()
    assert p.next_seq == 10
    p.detach()
    q = IdempotentProducer(url, "bytes", max_batch_bytes=4, linger_ms=50)
    q.append("ab")
    q.append("cd")
    q.append("ef")
    q.flush()
    assert q.next_seq == 2
    q.detach()
    assert s.stream(live=False).read_text() == "0123456789" * 10 + "abcdef"


@pytest.mark.parametrize("fault", [
    {"status": 500, "count": 2},
    {"status": 503, "count": 1, "retryAfter": 0},
    {"dropConnection": True, "count": 2},
    {"delayMs": 300, "count": 1},
])
def test_exactly_once_under_faults(url: str, inject: Callable[..., None],
                                   fault: dict) -> None:
    s = DurableStream.create(url, content_type="application/json")
    with s.producer("faulty", linger_ms=1) as p:
        for i in range(50):
            p.append({"i": i})
        p.flush()
        inject(url, method="POST", **fault)
        for i in range(50, 100):
            p.append({"i": i})
        p.flush()
    assert s.stream(live=False).read_json() == [{"i": i} for i in range(100)]


def test_pipelined_batches_arrive_in_order_once(url: str, inject: Callable[..., None]) -> None:
    s = DurableStream.create(url, content_type="application/json")
    inject(url, method="POST", status=500, count=3)
    with s.producer("pipe", max_in_flight=4, max_batch_bytes=1, linger_ms=0) as p:
        for i in range(40):
            p.append_wait({"i": i})
        p.flush()
        assert p.next_seq == 40
    assert s.stream(live=False).read_json() == [{"i": i} for i in range(40)]


def test_item_encoding_follows_the_content_type(url: str) -> None:
    j = DurableStream.create(url + "-json", content_type="application/json")
    with j.producer("enc") as p:
        p.append("text")        # a JSON string message
        p.append(b'{"raw":1}')  # raw JSON text
        p.append([1, 2])        # one message
        p.append((3, {"é": None, "big": 2**70, "f": 0.5, "t": True}))
        p.append({1: "int keys fall back to json.dumps"})
        with pytest.raises(durastream.ParseError):
            p.append(float("nan"))  # not JSON
    assert j.stream(live=False).read_json() == [
        "text", {"raw": 1}, [1, 2], [3, {"é": None, "big": 2**70, "f": 0.5, "t": True}],
        {"1": "int keys fall back to json.dumps"}]
    t = DurableStream.create(url + "-text", content_type="text/plain")
    with IdempotentProducer(DurableStream(t.url), "enc") as p2:  # learns the type with HEAD
        p2.append("plain ")
        p2.append(b"bytes")
    assert t.stream(live=False).read_text() == "plain bytes"


def test_invalid_json_item_is_rejected(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    with s.producer("bad") as p:
        with pytest.raises(durastream.ParseError):
            p.append(b"{not json")
        p.append({"ok": True})
    assert s.stream(live=False).read_json() == [{"ok": True}]


def test_close_through_the_producer(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    p = s.producer("closer")
    p.append({"n": 1})
    first = p.close({"n": "final"})
    assert p.close() == first  # idempotent
    assert s.head().closed
    assert s.stream(live=False).read_json() == [{"n": 1}, {"n": "final"}]
    with pytest.raises(durastream.ProducerClosedError):
        p.append({"n": 2})
    other = s.producer("other")
    with pytest.raises(durastream.StreamClosedError) as e:
        other.close()
    assert e.value.status == 409


def test_stale_epoch_fences_a_zombie_and_restart_recovers(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    errors: List[durastream.DurableStreamError] = []
    zombie = s.producer("worker", epoch=0, on_error=errors.append)
    zombie.append({"from": "zombie"})
    zombie.flush()
    with s.producer("worker", epoch=1) as successor:
        successor.append({"from": "successor"})
    zombie.append({"from": "zombie-late"})
    with pytest.raises(durastream.StaleEpochError) as e:
        zombie.flush()
    assert e.value.current_epoch == 1 and e.value.status == 403
    assert isinstance(zombie.error, durastream.StaleEpochError)
    assert errors and isinstance(errors[0], durastream.StaleEpochError)
    assert zombie.restart() == 2
    zombie.append({"from": "restarted"})
    zombie.detach()
    assert s.stream(live=False).read_json() == [
        {"from": "zombie"}, {"from": "successor"}, {"from": "restarted"}]


def test_auto_claim_takes_over_the_epoch(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    with s.producer("claim", epoch=3) as first:
        first.append({"n": 1})
    with s.producer("claim", epoch=0, auto_claim=True) as second:
        second.append({"n": 2})
        second.flush()
        assert second.epoch == 4
    assert s.stream(live=False).read_json() == [{"n": 1}, {"n": 2}]


def test_sequence_gap_after_the_server_forgets() -> None:
    with durastream.Server() as srv:
        port = srv.port
        url = srv.stream_url("gap")
        s = DurableStream.create(url, content_type="application/json")
        p = s.producer("gappy", linger_ms=0)
        p.append({"n": 0})
        p.flush()
    with durastream.Server(port=port):  # a fresh in-memory server on the same port
        DurableStream.create(url, content_type="application/json")
        p.append({"n": 1})
        with pytest.raises(durastream.SequenceGapError) as e:
            p.flush()
        assert (e.value.expected_seq, e.value.received_seq) == (0, 1)
        assert e.value.status == 409


def test_buffer_limit(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    p = s.producer("full", max_buffered_bytes=100, linger_ms=200)
    p.append(b"x" * 80)
    with pytest.raises(durastream.BufferFullError) as e:
        p.append(b"y" * 80)
    assert e.value.retryable
    p.append_wait(b"y" * 80)  # waits for the first batch's acknowledgement
    p.detach()
    assert s.stream(live=False).read_bytes() == b"x" * 80 + b"y" * 80


def test_options_are_validated(url: str) -> None:
    s = DurableStream.create(url)
    with pytest.raises(durastream.InvalidArgumentError) as e:
        s.producer("", epoch=0)
    assert e.value.argument == "producerId"
    with pytest.raises(durastream.InvalidArgumentError) as e2:
        s.producer("p", epoch=-1)
    assert e2.value.argument == "epoch"
    with pytest.raises(durastream.InvalidArgumentError) as e3:
        IdempotentProducer.validate_options(max_batch_items=0)
    assert e3.value.argument == "maxBatchItems"
    with pytest.raises(durastream.InvalidArgumentError):
        s.producer("p", max_buffered_bytes=0)


def test_async_producer(url: str, inject: Callable[..., None]) -> None:
    async def main() -> None:
        s = await AsyncDurableStream.create(url, content_type="application/json")
        async with s.producer("async", linger_ms=2) as p:
            for i in range(500):
                p.append({"i": i})
            inject(url, method="POST", status=500, count=1)
            await p.aflush()
            await p.aappend_wait({"i": 500})
        closer = s.producer("async-closer")
        await closer.aclose({"i": "end"})
        async with s.stream(live=False) as res:
            items = await res.read_json()
        assert items == [{"i": i} for i in range(501)] + [{"i": "end"}]
        fresh = s.producer("async-restart")
        assert await fresh.arestart() == 1
        await fresh.adetach()

    run(main())


def test_producer_errors_reach_the_next_awaited_call(url: str) -> None:
    async def main() -> None:
        s = await AsyncDurableStream.create(url, content_type="application/json")
        await s.close()
        p = s.producer("late")
        p.append({"n": 1})
        with pytest.raises(durastream.StreamClosedError):
            await p.aflush()
        with pytest.raises(durastream.StreamClosedError):
            p.append({"n": 2})

    run(main())


def test_raw_producer_headers_are_deduplicated(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    p = s.producer("dup", linger_ms=0)
    p.append("once")
    p.flush()
    # Replaying the producer's first batch by hand is acknowledged as a duplicate.
    status = raw_post(url, b"once", {"content-type": "text/plain", "Producer-Id": "dup",
                                     "Producer-Epoch": "0", "Producer-Seq": "0"})
    assert status in (200, 204)
    p.detach()
    assert s.stream(live=False).read_text() == "once"

"""Reads, sync and async: catch-up, long-poll, SSE and auto; bytes, text, JSON and events;
offsets; faults; cancellation and Ctrl-C."""

from __future__ import annotations

import _thread
import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, List

import pytest
from conftest import run

import durastream
from durastream import AsyncDurableStream, DurableStream

LIVE_MODES = ["long-poll", "sse", "auto"]


def json_stream(url: str, items: List[Any]) -> DurableStream:
    s = DurableStream.create(url, content_type="application/json")
    if items:
        s.append(json.dumps(items).encode())
    return s


def test_catch_up_shapes(url: str) -> None:
    s = json_stream(url, [{"a": 1}, {"b": 2}])
    s.append({"c": 3})
    assert s.stream(live=False).read_json() == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert s.stream(live=False).read_json_batches() == [[{"a": 1}, {"b": 2}, {"c": 3}]]
    assert list(s.stream(live=False).iter_json()) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert json.loads(s.stream(live=False).read_bytes()) == [{"a": 1}, {"b": 2}, {"c": 3}]
    decoded = s.stream(live=False).read_json(decode=lambda d: sorted(d))
    assert decoded == [["a"], ["b"], ["c"]]
    events = list(s.stream(live=False).iter_events())
    assert len(events) == 1 and events[0].data == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert events[0].up_to_date and events[0].next_offset == s.head().offset


def test_catch_up_across_many_responses(server: durastream.Server, url: str) -> None:
    s = DurableStream.create(url, content_type="application/octet-stream")
    block = bytes(range(256)) * 4096  # 1 MiB: larger than one catch-up response
    s.append(block)
    s.append(block[::-1])
    res = s.stream(live=False)
    chunks = list(res)
    assert len(chunks) >= 2
    assert b"".join(chunks) == block + block[::-1]
    assert res.up_to_date and res.offset == s.head().offset


def test_resume_from_offset_and_now(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    s.append("old")
    res = s.stream(live=False)
    assert res.read_text() == "old"
    mark = res.offset
    s.append("new")
    assert s.stream(offset=mark, live=False).read_text() == "new"
    now = s.stream(offset="now", live=False)
    assert now.read_text() == "" and now.up_to_date
    assert now.offset == s.head().offset


def test_empty_stream_and_events_with_empty_chunks(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    assert s.stream(live=False).read_json() == []
    events = list(s.stream(live=False).iter_events(include_empty=True))
    assert len(events) == 1 and events[0].data == [] and events[0].up_to_date


def test_response_is_one_shot(url: str) -> None:
    s = json_stream(url, [1])
    res = s.stream(live=False)
    assert res.read_json() == [1]
    with pytest.raises(durastream.StreamConsumedError):
        res.read_json()


def test_text_reassembles_characters_split_across_chunks(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    euro = "€".encode()
    s.append(b"price: " + euro[:1])

    def later() -> None:
        time.sleep(0.2)
        s.append(euro[1:] + b"5")
        time.sleep(0.2)
        s.close()

    threading.Thread(target=later).start()
    with s.stream(live="long-poll") as res:
        texts = list(res.iter_text())
    assert "".join(texts) == "price: €5"
    assert len(texts) >= 2 and res.closed


@pytest.mark.parametrize("mode", LIVE_MODES)
def test_live_read_sync(url: str, mode: str) -> None:
    s = json_stream(url, [{"i": 0}])

    def writer() -> None:
        for i in range(1, 4):
            time.sleep(0.1)
            s.append({"i": i})
        s.close()

    threading.Thread(target=writer).start()
    with s.stream(live=mode) as res:  # type: ignore[arg-type]
        items = list(res.iter_json())
        assert res.closed and res.up_to_date
    assert items == [{"i": i} for i in range(4)]


@pytest.mark.parametrize("mode", LIVE_MODES)
def test_live_read_async(url: str, mode: str) -> None:
    async def main() -> None:
        s = await AsyncDurableStream.create(url, content_type="application/json")

        async def writer() -> None:
            for i in range(3):
                await asyncio.sleep(0.1)
                await s.append({"i": i})
            await s.close()

        task = asyncio.ensure_future(writer())
        got: List[Any] = []
        async with s.stream(live=mode) as res:  # type: ignore[arg-type]
            async for item in res.iter_json():
                got.append(item)
            assert res.closed
        await task
        assert got == [{"i": i} for i in range(3)]

    run(main())


def test_live_events_carry_offsets(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")

    def writer() -> None:
        time.sleep(0.1)
        s.append("a")
        time.sleep(0.1)
        s.append("b")
        s.close()

    threading.Thread(target=writer).start()
    events = list(s.stream(offset="now", live="sse").iter_events("text", include_empty=True))
    assert "".join(e.data for e in events) == "ab"
    assert events[-1].closed and events[-1].next_offset == s.head().offset
    offsets = [e.next_offset for e in events]
    assert offsets == sorted(offsets)


def test_read_methods_stop_when_up_to_date_in_live_modes(url: str) -> None:
    s = json_stream(url, [1, 2])
    for mode in LIVE_MODES:
        assert s.stream(live=mode).read_json() == [1, 2]  # type: ignore[arg-type]


def test_long_poll_timeout_reports_204(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    events = s.stream(offset="now", live="long-poll").iter_events("bytes", include_empty=True)
    first = next(iter(events))
    assert first.status == 204 and first.data == b"" and first.up_to_date


def test_async_read_shapes_and_await(url: str) -> None:
    async def main() -> None:
        s = await AsyncDurableStream.create(url, content_type="application/json")
        await s.append({"a": 1})
        res = await durastream.astream(url, live=False)
        assert [b async for b in res.iter_json_batches()] == [[{"a": 1}]]
        async with durastream.astream(url, live=False) as res2:
            assert [json.loads(c) async for c in res2] == [[{"a": 1}]]
        assert json.loads(await s.stream(live=False).read_bytes()) == [{"a": 1}]
        assert json.loads(await s.stream(live=False).read_text()) == [{"a": 1}]
        assert await s.stream(live=False).read_json_batches() == [[{"a": 1}]]
        events = [e async for e in s.stream(live=False).iter_events("bytes")]
        assert json.loads(events[0].data) == [{"a": 1}]

    run(main())


def test_read_errors(url: str) -> None:
    with pytest.raises(durastream.StreamNotFoundError) as e:
        durastream.stream(url, live=False).read_bytes()
    assert e.value.status == 404
    DurableStream.create(url)
    with pytest.raises(durastream.InvalidOffsetError) as e2:
        durastream.stream(url, offset="not-an-offset", live=False).read_bytes()
    assert e2.value.status == 400 and isinstance(e2.value, durastream.BadRequestError)


def test_reads_retry_transient_failures(url: str, inject: Callable[..., None]) -> None:
    s = json_stream(url, [1, 2, 3])
    inject(url, status=500, count=2, method="GET")
    assert s.stream(live=False).read_json() == [1, 2, 3]
    inject(url, dropConnection=True, method="GET")
    assert s.stream(live=False).read_json() == [1, 2, 3]


def test_corrupt_json_is_a_parse_error(url: str, inject: Callable[..., None]) -> None:
    s = json_stream(url, [{"k": "v" * 50}])
    inject(url, corruptBody=True, method="GET")
    with pytest.raises(durastream.ParseError) as e:
        s.stream(live=False).read_json()
    assert e.value.code == "PARSE_ERROR"


# Messages the JSON read paths must turn into exactly what json.loads gives.
TRICKY_JSON = [
    '{"a": 1, "a": 2, "b": [], "c": {}, "d": [[]], "e": {"f": {"g": null}}}',
    '[true, false, null, 0, -0, 7, -12, 0.5, -0.0, 1e3, 1E-3, 2.5e+2, 1e400, -1e400]',
    '[9223372036854775807, -9223372036854775808, 999999999999999999, 1000000000000000000]',
    '[123456789012345678901234567890, -98765432109876543210, 0.1, 3.141592653589793]',
    '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u20ac \\ud83d\\ude00 end"',
    '["\\ud800", "x\\udc00y", "\\ud83dz", "ok \u00e9 \u20ac \U0001F600"]',
    '{"k\\u00e9y": "v", "long key ' + "x" * 80 + '": 1, "": ""}',
    '{"type": "token", "text": "hello", "n": 1}',
    '"' + "a" * 5000 + '"',
    " [ 1 , { \"a\" : [ 2 , 3 ] } ] ",
]


def test_json_reads_equal_json_loads(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    for text in TRICKY_JSON:
        s.append(b"[" + text.encode() + b"]")
    expected = json.loads(s.stream(live=False).read_bytes())
    assert len(expected) == len(TRICKY_JSON)
    got = s.stream(live=False).read_json()
    assert got == expected and repr(got) == repr(expected)
    assert list(s.stream(live=False).iter_json()) == expected
    assert [i for b in s.stream(live=False).read_json_batches() for i in b] == expected

    async def read_async() -> None:
        assert await durastream.astream(url, live=False).read_json() == expected
        assert [i async for i in durastream.astream(url, live=False).iter_json()] == expected

    run(read_async())
    big = [x for x in got if isinstance(x, list) and len(x) == 4 and isinstance(x[0], int)]
    assert big and all(type(v) is int for v in big[0])


def test_json_reads_of_many_responses(url: str) -> None:
    s = DurableStream.create(url, content_type="application/json")
    items = [{"type": "token", "text": "hello " * 10, "n": i} for i in range(30_000)]
    for i in range(0, len(items), 5000):
        s.append(json.dumps(items[i : i + 5000]).encode())
    res = s.stream(live=False)
    assert list(res.iter_json()) == items
    assert res.up_to_date and res.offset == s.head().offset
    assert s.stream(live=False).read_json() == items
    assert len(s.stream(live=False).read_json_batches()) >= 2


def test_corrupt_json_is_a_parse_error_in_every_shape(
    url: str, inject: Callable[..., None]
) -> None:
    s = json_stream(url, [{"k": "v" * 50}, [1, 2, {"x": None}]])
    for read in (
        lambda: s.stream(live=False).read_json(),
        lambda: list(s.stream(live=False).iter_json()),
        lambda: s.stream(live=False).read_json_batches(),
        lambda: list(s.stream(live=False).iter_events()),
        lambda: s.stream(live=False).read_bytes(),
    ):
        for fault in ({"corruptBody": True}, {"truncateBodyBytes": 20}):
            inject(url, method="GET", **fault)
            with pytest.raises(durastream.ParseError) as e:
                read()
            assert e.value.code == "PARSE_ERROR"
    assert s.stream(live=False).read_json() == [{"k": "v" * 50}, [1, 2, {"x": None}]]


def test_async_cancellation_stops_a_live_read_promptly(url: str) -> None:
    async def main() -> None:
        s = await AsyncDurableStream.create(url, content_type="text/plain")
        res = s.stream(offset="now", live="sse")

        async def consume() -> List[bytes]:
            return [c async for c in res]

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0
        # The handle still works after the cancellation.
        await s.append("after")
        assert await s.stream(live=False).read_text() == "after"

    run(main())


def test_wait_for_timeout_cancels_the_request(url: str) -> None:
    async def main() -> None:
        s = await AsyncDurableStream.create(url, content_type="text/plain")
        res = s.stream(offset="now", live="long-poll")
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(res.read_text(), 0.2)
        assert time.monotonic() - started < 1.5

    run(main())


def test_ctrl_c_interrupts_a_blocking_live_read(url: str) -> None:
    # A run started in the background inherits an ignored SIGINT; Python then never turns
    # Ctrl-C into KeyboardInterrupt. Install Python's own handler, as in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    s = DurableStream.create(url, content_type="text/plain")
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        for _ in s.stream(offset="now", live="sse"):
            pass
    assert time.monotonic() - started < 2.0
    s.append("still works")
    assert s.stream(live=False).read_text() == "still works"


def test_sigint_stops_a_live_read_in_a_script(url: str) -> None:
    DurableStream.create(url, content_type="text/plain")
    code = (
        "import signal, sys, durastream\n"
        # As in a terminal, even when this test run inherited an ignored SIGINT.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"res = durastream.stream({url!r}, offset='now', live='long-poll')\n"
        "print('reading', flush=True)\n"
        "try:\n"
        "    for _ in res: pass\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True); sys.exit(3)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "reading"
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(2)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 3 and "interrupted" in out
    assert time.monotonic() - started < 2.0


def test_blocking_reads_release_the_gil(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    done = threading.Event()

    def reader() -> None:
        s.stream(offset="now", live="long-poll").read_bytes()  # waits ~1 s for the 204
        done.set()

    t = threading.Thread(target=reader)
    t.start()
    spins = 0
    while not done.is_set():
        spins += 1  # pure Python work: only progresses if the reader released the GIL
    t.join()
    assert spins > 10_000


def test_pending_wait_timeout(url: str) -> None:
    s = DurableStream.create(url, content_type="text/plain")
    res = s.stream(offset="now", live="long-poll")
    reader = res._reader
    with pytest.raises(TimeoutError):
        reader.next_batch().wait(timeout=0.1)
    res.close()
    assert reader.next_batch().wait() == []

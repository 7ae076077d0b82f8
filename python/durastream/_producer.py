"""The idempotent producer: batched, pipelined, exactly-once appends."""

from __future__ import annotations

import json
from typing import Any, Callable, Optional, Union

from durastream import _durastream
from durastream._stream import AsyncDurableStream, DurableStream, _is_json
from durastream._types import CloseResult
from durastream.errors import DurableStreamError

__all__ = ["IdempotentProducer"]


class IdempotentProducer:
    """Appends to one stream exactly once, in batches, without waiting on the network.

    Each batch is one request carrying ``Producer-Id``, ``Producer-Epoch`` and
    ``Producer-Seq``; the server deduplicates a re-sent batch, so network failures,
    timeouts, 408, 429 and 5xx are retried safely. :meth:`append` copies the item into the
    open batch and returns at once; :meth:`flush`, :meth:`close` and :meth:`detach` wait
    (their ``a``-prefixed twins are awaitable). A fatal error (stale epoch, sequence gap,
    closed stream...) goes to ``on_error`` and is raised by the next call.

    Usable from synchronous code (``with``) and from asyncio (``async with``); leaving the
    block flushes and detaches (the stream stays open; call :meth:`close` to close it).

    Args:
        stream: The stream: a :class:`DurableStream`, :class:`AsyncDurableStream` or URL.
        producer_id: Identifies this producer to the server (non-empty).
        epoch: Starting epoch (>= 0).
        auto_claim: On a stale epoch, take over at the server's epoch + 1.
        max_batch_bytes: Close a batch at this many bytes (default 1 MiB).
        max_batch_items: Close a batch at this many items (default 10 000).
        linger_ms: How long a batch's first item waits for company (default 5).
        max_in_flight: Batches in flight at once (default 1).
        max_buffered_bytes: Unacknowledged bytes above which :meth:`append` raises
            :class:`BufferFullError` (default 16 MiB).
        content_type: The stream's content type, if the handle does not know it.
        on_error: Called with every fatal error (from a background thread).

    Items: ``bytes`` are sent as is (on a JSON stream they must be one JSON value). On a
    JSON stream any other value is one JSON message (``str`` included). On other streams
    ``str`` is sent as UTF-8 and other values as JSON.
    """

    def __init__(
        self,
        stream: Union[DurableStream, AsyncDurableStream, str],
        producer_id: str,
        *,
        epoch: int = 0,
        auto_claim: bool = False,
        max_batch_bytes: Optional[int] = None,
        max_batch_items: Optional[int] = None,
        linger_ms: Optional[float] = None,
        max_in_flight: Optional[int] = None,
        max_buffered_bytes: Optional[int] = None,
        content_type: Optional[str] = None,
        on_error: Optional[Callable[[DurableStreamError], None]] = None,
    ) -> None:
        handle = DurableStream(stream) if isinstance(stream, str) else stream
        ct = content_type or handle._s.content_type
        # Whether non-bytes items are JSON messages; learned with one HEAD on the first
        # such item when the handle does not know the content type.
        self._json: Optional[bool] = None if ct is None else _is_json(ct)
        self._stream = handle
        self._p = handle._s.producer(
            producer_id,
            epoch=epoch,
            auto_claim=auto_claim,
            max_batch_bytes=max_batch_bytes,
            max_batch_items=max_batch_items,
            linger_ms=linger_ms,
            max_in_flight=max_in_flight,
            max_buffered_bytes=max_buffered_bytes,
            content_type=ct,
            on_error=on_error,
        )

    def _item(self, data: Any) -> bytes:
        if isinstance(data, bytes):
            return data
        if isinstance(data, (bytearray, memoryview)):
            return bytes(data)
        if self._json is None:
            self._json = _is_json(_head_content_type(self._stream._s))
        if isinstance(data, str) and not self._json:
            return data.encode()
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    @staticmethod
    def validate_options(
        *,
        producer_id: Optional[str] = None,
        epoch: Optional[int] = None,
        max_batch_bytes: Optional[int] = None,
        max_batch_items: Optional[int] = None,
        max_in_flight: Optional[int] = None,
        linger_ms: Optional[float] = None,
    ) -> None:
        """Checks producer options without a stream; raises :class:`InvalidArgumentError`
        naming the option (camelCase) on invalid input."""
        _durastream.validate_producer_options(
            producer_id, epoch, max_batch_bytes, max_batch_items, max_in_flight, linger_ms
        )

    @property
    def producer_id(self) -> str:
        """The producer id."""
        return self._p.id

    @property
    def epoch(self) -> int:
        """The current epoch."""
        return self._p.epoch

    @property
    def next_seq(self) -> int:
        """The next sequence number to be assigned in the current epoch."""
        return self._p.next_seq

    @property
    def last_offset(self) -> Optional[str]:
        """The tail offset reported by the last acknowledged batch."""
        return self._p.last_offset

    @property
    def buffered_bytes(self) -> int:
        """Bytes appended but not yet acknowledged."""
        return self._p.buffered_bytes

    @property
    def pending_count(self) -> int:
        """Items appended and not yet acknowledged by the server."""
        return self._p.pending_count

    @property
    def in_flight_count(self) -> int:
        """Batches sent and waiting for the server's answer."""
        return self._p.in_flight_count

    @property
    def error(self) -> Optional[DurableStreamError]:
        """The fatal error that stopped the producer, if any."""
        e = self._p.error
        assert e is None or isinstance(e, DurableStreamError)
        return e

    def append(self, data: Any) -> None:
        """Queues one item and returns at once (never waits on the network). Raises
        :class:`BufferFullError` when ``max_buffered_bytes`` are unacknowledged, or the
        producer's fatal error."""
        if type(data) is bytes:
            self._p.append(data)
            return
        if self._json is None and not isinstance(data, (bytearray, memoryview)):
            self._json = _is_json(_head_content_type(self._stream._s))
        if (self._json or not isinstance(data, (str, bytearray, memoryview))) and \
                self._p.append_json(data):
            return  # serialised by the extension, straight from the Python objects
        self._p.append(self._item(data))

    def append_wait(self, data: Any) -> None:
        """Like :meth:`append`, but blocks for buffer room instead of raising."""
        self._p.append_wait(self._item(data)).wait()

    async def aappend_wait(self, data: Any) -> None:
        """Like :meth:`append`, but awaits buffer room instead of raising."""
        await self._p.append_wait(self._item(data))

    def flush(self) -> None:
        """Sends everything appended so far and blocks until it is acknowledged."""
        self._p.flush().wait()

    async def aflush(self) -> None:
        """Sends everything appended so far and awaits the acknowledgement."""
        await self._p.flush()

    def close(self, final_message: Any = None) -> CloseResult:
        """Flushes, then closes the stream through this producer, optionally appending
        ``final_message`` atomically. Idempotent: calling it again returns the same
        result."""
        final = None if final_message is None else self._item(final_message)
        return CloseResult(self._p.close(final).wait())

    async def aclose(self, final_message: Any = None) -> CloseResult:
        """Awaitable :meth:`close`."""
        final = None if final_message is None else self._item(final_message)
        return CloseResult(await self._p.close(final))

    def detach(self) -> None:
        """Flushes, then stops the producer without closing the stream."""
        self._p.detach().wait()

    async def adetach(self) -> None:
        """Awaitable :meth:`detach`."""
        await self._p.detach()

    def restart(self) -> int:
        """Starts a new epoch at sequence 0 (past the server's epoch after a stale-epoch
        error), clearing a fatal error. Returns the new epoch."""
        epoch: int = self._p.restart().wait()
        return epoch

    async def arestart(self) -> int:
        """Awaitable :meth:`restart`."""
        epoch: int = await self._p.restart()
        return epoch

    def __enter__(self) -> IdempotentProducer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.detach()
        except DurableStreamError:
            if exc_type is None:
                raise

    async def __aenter__(self) -> IdempotentProducer:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            await self.adetach()
        except DurableStreamError:
            if exc_type is None:
                raise

    def __repr__(self) -> str:
        return f"IdempotentProducer({self._stream.url!r}, {self.producer_id!r})"


def _head_content_type(s: _durastream.Stream) -> Optional[str]:
    ct: Optional[str] = s.head().wait()[0]
    return ct

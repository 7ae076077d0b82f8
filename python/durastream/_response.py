"""Read sessions: :class:`StreamResponse` (sync) and :class:`AsyncStreamResponse`.

A response wraps one reader of the Rust core. It is consumed once, in one of several
shapes: raw bytes, text, JSON items, JSON batches, or events with metadata. Iteration
follows the live mode (a live read runs until the stream is closed or the response is
closed); the ``read_*`` methods stop once the reader is up to date.
"""

from __future__ import annotations

import codecs
import itertools
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
)

from durastream import _durastream
from durastream._types import LiveMode, Offset, StreamEvent
from durastream.errors import ParseError, StreamConsumedError

__all__ = ["StreamResponse", "AsyncStreamResponse"]

#: Chunks fetched per crossing into the extension while catching up.
_BATCH = 16


class _Base:
    """State shared by the sync and async responses."""

    def __init__(
        self,
        stream: _durastream.Stream,
        *,
        offset: Optional[Offset],
        live: LiveMode,
        cursor: Optional[str],
    ) -> None:
        self._stream = stream
        self._live: LiveMode = live
        self._start_offset = offset if offset is not None else "-1"
        self._offset = self._start_offset
        self._cursor = cursor
        self._up_to_date = False
        self._closed = False
        self._status = 200
        self._consumed_by: Optional[str] = None
        self._ended = False
        self._reader = stream.read(self._start_offset, _live_arg(live), cursor)

    @property
    def url(self) -> str:
        """The stream URL."""
        return self._stream.url

    @property
    def content_type(self) -> Optional[str]:
        """The stream's content type, once known."""
        return self._stream.content_type

    @property
    def live(self) -> LiveMode:
        """The live mode of this read."""
        return self._live

    @property
    def start_offset(self) -> Offset:
        """Where the read started."""
        return self._start_offset

    @property
    def offset(self) -> Offset:
        """The offset to resume from: after the last chunk delivered so far."""
        return self._offset

    @property
    def cursor(self) -> Optional[str]:
        """The last cursor the server sent."""
        return self._cursor

    @property
    def up_to_date(self) -> bool:
        """The last chunk delivered reached the tail of the stream."""
        return self._up_to_date

    @property
    def closed(self) -> bool:
        """The stream is closed and everything in it was delivered."""
        return self._closed

    @property
    def status(self) -> int:
        """HTTP status of the last chunk (204: a long-poll ended without data)."""
        return self._status

    @property
    def ok(self) -> bool:
        """The last response was successful."""
        return 200 <= self._status < 300

    def _start(self, method: str, parses_json: bool = False) -> None:
        if self._consumed_by is not None:
            raise StreamConsumedError(
                f"Cannot call {method}() - stream was already consumed via {self._consumed_by}()"
            )
        self._consumed_by = method
        if parses_json:
            # Every chunk is parsed once, by Chunk.items(), which reports bad JSON itself:
            # the reader's own check would parse each chunk a second time.
            self._reader.set_check_json(False)

    def _take(self, chunk: _durastream.Chunk) -> None:
        self._offset = chunk.next_offset
        if chunk.cursor is not None:
            self._cursor = chunk.cursor
        self._up_to_date = chunk.up_to_date
        self._closed = chunk.closed
        self._status = chunk.status

    def _event(
        self,
        chunk: _durastream.Chunk,
        mode: Literal["bytes", "text", "json", "json_batches"],
        encoding: str,
        decode: Optional[Callable[[Any], Any]],
    ) -> StreamEvent[Any]:
        data: Any
        if mode == "bytes":
            data = chunk.data
        elif mode == "text":
            data = chunk.data.decode(encoding)
        else:
            data = [] if chunk.empty else _items(chunk, decode)
        return StreamEvent(
            data=data,
            next_offset=chunk.next_offset,
            up_to_date=chunk.up_to_date,
            cursor=chunk.cursor,
            closed=chunk.closed,
            status=chunk.status,
        )


def _live_arg(live: LiveMode) -> str:
    if live is False:
        return "off"
    if live is True or live == "auto":
        return "auto"
    if live in ("long-poll", "sse"):
        return str(live)
    raise ValueError(f"live must be False, True, 'auto', 'long-poll' or 'sse' (got {live!r})")


def _items(chunk: _durastream.Chunk, decode: Optional[Callable[[Any], Any]]) -> List[Any]:
    """The JSON messages of a chunk (the core sends them as one JSON array)."""
    if not chunk.json:
        raise ParseError(
            "stream data is not JSON (the stream's content type is not application/json)",
            code="PARSE_ERROR",
        )
    items = chunk.items()
    if decode is not None:
        return [decode(item) for item in items]
    return items


def _stop_at_up_to_date(chunk: _durastream.Chunk) -> bool:
    return chunk.up_to_date or chunk.closed


class StreamResponse(_Base):
    """A synchronous read session, returned by :func:`durastream.stream` and
    :meth:`DurableStream.stream`. Use it as a context manager and consume it once.

    Blocking waits release the GIL; Ctrl-C interrupts them.
    """

    def __enter__(self) -> StreamResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the read: open connections are dropped."""
        self._ended = True
        self._reader.close()

    def _chunks(self, stop: Optional[Callable[[_durastream.Chunk], bool]] = None) -> Iterator[
        _durastream.Chunk
    ]:
        while not self._ended:
            batch: Sequence[_durastream.Chunk] = self._reader.next_batch(_BATCH).wait()
            if not batch:
                self._ended = True
                return
            for chunk in batch:
                self._take(chunk)
                yield chunk
                if stop is not None and stop(chunk):
                    self.close()  # read_*: done; stop the read-ahead too
                    return

    def __iter__(self) -> Iterator[bytes]:
        """Iterates the stream's bytes, one non-empty chunk at a time."""
        self._start("__iter__")
        return (c.data for c in self._chunks() if not c.empty)

    def iter_bytes(self) -> Iterator[bytes]:
        """Iterates the stream's bytes, one non-empty chunk at a time."""
        self._start("iter_bytes")
        return (c.data for c in self._chunks() if not c.empty)

    def iter_text(self, encoding: str = "utf-8") -> Iterator[str]:
        """Iterates decoded text; a character split across chunks is reassembled."""
        self._start("iter_text")
        return self._text(encoding, None)

    def _text(self, encoding: str, stop: Optional[Callable[[_durastream.Chunk], bool]]) -> Iterator[
        str
    ]:
        decoder = codecs.getincrementaldecoder(encoding)()
        for chunk in self._chunks(stop):
            text = decoder.decode(chunk.data, final=chunk.closed)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_json(self, decode: Optional[Callable[[Any], Any]] = None) -> Iterator[Any]:
        """Iterates JSON messages one by one (JSON streams), optionally through ``decode``."""
        self._start("iter_json", parses_json=True)
        return self._json_items(decode, None)

    def _json_items(
        self,
        decode: Optional[Callable[[Any], Any]],
        stop: Optional[Callable[[_durastream.Chunk], bool]],
    ) -> Iterator[Any]:
        # chain() walks each chunk's list in C: no Python frame per message.
        return itertools.chain.from_iterable(
            _items(c, decode) for c in self._chunks(stop) if not c.empty
        )

    def iter_json_batches(
        self, decode: Optional[Callable[[Any], Any]] = None
    ) -> Iterator[List[Any]]:
        """Iterates lists of JSON messages, one per response or SSE event."""
        self._start("iter_json_batches", parses_json=True)
        return (_items(c, decode) for c in self._chunks() if not c.empty)

    def iter_events(
        self,
        mode: Literal["bytes", "text", "json", "json_batches"] = "json",
        *,
        encoding: str = "utf-8",
        decode: Optional[Callable[[Any], Any]] = None,
        include_empty: bool = False,
    ) -> Iterator[StreamEvent[Any]]:
        """Iterates :class:`StreamEvent` objects: data with its offset, up-to-date and
        closed flags and cursor. ``include_empty`` also yields chunks without data (a
        long-poll timeout, an up-to-date marker)."""
        self._start("iter_events", parses_json=mode in ("json", "json_batches"))
        return (
            self._event(c, mode, encoding, decode)
            for c in self._chunks()
            if include_empty or not c.empty
        )

    def read_bytes(self) -> bytes:
        """Reads until up to date and returns the bytes."""
        self._start("read_bytes")
        return b"".join(c.data for c in self._chunks(_stop_at_up_to_date))

    def read_text(self, encoding: str = "utf-8") -> str:
        """Reads until up to date and returns the text."""
        self._start("read_text")
        return "".join(self._text(encoding, _stop_at_up_to_date))

    def read_json(self, decode: Optional[Callable[[Any], Any]] = None) -> List[Any]:
        """Reads until up to date and returns every JSON message."""
        self._start("read_json", parses_json=True)
        out: List[Any] = []
        for c in self._chunks(_stop_at_up_to_date):
            if not c.empty:
                out += _items(c, decode)
        return out

    def read_json_batches(
        self, decode: Optional[Callable[[Any], Any]] = None
    ) -> List[List[Any]]:
        """Reads until up to date and returns the JSON messages batch by batch."""
        self._start("read_json_batches", parses_json=True)
        return [_items(c, decode) for c in self._chunks(_stop_at_up_to_date) if not c.empty]


class AsyncStreamResponse(_Base):
    """An asyncio read session, returned by :func:`durastream.astream` and
    :meth:`AsyncDurableStream.stream`. Use ``async with`` (or ``await``) and consume it
    once. Cancelling the consuming task stops the HTTP request at once.
    """

    async def __aenter__(self) -> AsyncStreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __await__(self) -> Generator[Any, None, AsyncStreamResponse]:
        return self._self().__await__()

    async def _self(self) -> AsyncStreamResponse:
        return self

    async def aclose(self) -> None:
        """Stops the read: open connections are dropped."""
        self.close()

    def close(self) -> None:
        """Stops the read: open connections are dropped."""
        self._ended = True
        self._reader.close()

    async def _chunks(
        self, stop: Optional[Callable[[_durastream.Chunk], bool]] = None
    ) -> AsyncIterator[_durastream.Chunk]:
        while not self._ended:
            batch: Sequence[_durastream.Chunk] = await self._reader.next_batch(_BATCH)
            if not batch:
                self._ended = True
                return
            for chunk in batch:
                self._take(chunk)
                yield chunk
                if stop is not None and stop(chunk):
                    self.close()  # read_*: done; stop the read-ahead too
                    return

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Iterates the stream's bytes, one non-empty chunk at a time."""
        self._start("__aiter__")
        return self._bytes()

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Iterates the stream's bytes, one non-empty chunk at a time."""
        self._start("iter_bytes")
        return self._bytes()

    async def _bytes(self) -> AsyncIterator[bytes]:
        async for c in self._chunks():
            if not c.empty:
                yield c.data

    def iter_text(self, encoding: str = "utf-8") -> AsyncIterator[str]:
        """Iterates decoded text; a character split across chunks is reassembled."""
        self._start("iter_text")
        return self._text(encoding, None)

    async def _text(
        self, encoding: str, stop: Optional[Callable[[_durastream.Chunk], bool]]
    ) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder(encoding)()
        async for chunk in self._chunks(stop):
            text = decoder.decode(chunk.data, final=chunk.closed)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_json(self, decode: Optional[Callable[[Any], Any]] = None) -> AsyncIterator[Any]:
        """Iterates JSON messages one by one (JSON streams), optionally through ``decode``."""
        self._start("iter_json", parses_json=True)
        return self._json_items(decode, None)

    async def _json_items(
        self,
        decode: Optional[Callable[[Any], Any]],
        stop: Optional[Callable[[_durastream.Chunk], bool]],
    ) -> AsyncIterator[Any]:
        async for chunk in self._chunks(stop):
            if not chunk.empty:
                for item in _items(chunk, decode):
                    yield item

    def iter_json_batches(
        self, decode: Optional[Callable[[Any], Any]] = None
    ) -> AsyncIterator[List[Any]]:
        """Iterates lists of JSON messages, one per response or SSE event."""
        self._start("iter_json_batches", parses_json=True)
        return self._json_batches(decode, None)

    async def _json_batches(
        self,
        decode: Optional[Callable[[Any], Any]],
        stop: Optional[Callable[[_durastream.Chunk], bool]],
    ) -> AsyncIterator[List[Any]]:
        async for chunk in self._chunks(stop):
            if not chunk.empty:
                yield _items(chunk, decode)

    def iter_events(
        self,
        mode: Literal["bytes", "text", "json", "json_batches"] = "json",
        *,
        encoding: str = "utf-8",
        decode: Optional[Callable[[Any], Any]] = None,
        include_empty: bool = False,
    ) -> AsyncIterator[StreamEvent[Any]]:
        """Iterates :class:`StreamEvent` objects: data with its offset, up-to-date and
        closed flags and cursor. ``include_empty`` also yields chunks without data."""
        self._start("iter_events", parses_json=mode in ("json", "json_batches"))
        return self._events(mode, encoding, decode, include_empty)

    async def _events(
        self,
        mode: Literal["bytes", "text", "json", "json_batches"],
        encoding: str,
        decode: Optional[Callable[[Any], Any]],
        include_empty: bool,
    ) -> AsyncIterator[StreamEvent[Any]]:
        async for c in self._chunks():
            if include_empty or not c.empty:
                yield self._event(c, mode, encoding, decode)

    async def read_bytes(self) -> bytes:
        """Reads until up to date and returns the bytes."""
        self._start("read_bytes")
        return b"".join([c.data async for c in self._chunks(_stop_at_up_to_date)])

    async def read_text(self, encoding: str = "utf-8") -> str:
        """Reads until up to date and returns the text."""
        self._start("read_text")
        return "".join([t async for t in self._text(encoding, _stop_at_up_to_date)])

    async def read_json(self, decode: Optional[Callable[[Any], Any]] = None) -> List[Any]:
        """Reads until up to date and returns every JSON message."""
        self._start("read_json", parses_json=True)
        return [i async for i in self._json_items(decode, _stop_at_up_to_date)]

    async def read_json_batches(
        self, decode: Optional[Callable[[Any], Any]] = None
    ) -> List[List[Any]]:
        """Reads until up to date and returns the JSON messages batch by batch."""
        self._start("read_json_batches", parses_json=True)
        return [b async for b in self._json_batches(decode, _stop_at_up_to_date)]

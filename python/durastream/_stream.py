"""Stream handles: :class:`DurableStream` (sync), :class:`AsyncDurableStream`, the shared
:class:`Client`, and the read-only :func:`stream` / :func:`astream` functions."""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

from durastream import _durastream
from durastream._response import AsyncStreamResponse, StreamResponse
from durastream._types import (
    AppendResult,
    CloseResult,
    CreateResult,
    HeadersLike,
    HeadResult,
    LiveMode,
    Offset,
    ParamsLike,
    RetryOptions,
)

if TYPE_CHECKING:
    from durastream._producer import IdempotentProducer

__all__ = ["Client", "DurableStream", "AsyncDurableStream", "stream", "astream"]

Data = Union[bytes, bytearray, memoryview, str, Any]


class Client:
    """Headers, query parameters, retry policy and time limits shared by the stream handles
    made with it (and their connection pool).

    Args:
        headers: Header values: text, or callables returning text, evaluated on every
            request (first attempts, retries, reconnects and producer batches alike).
        params: Query parameters, the same way (``None`` values are left out).
        retry: The retry policy (default :class:`RetryOptions`).
        timeout: Time limit of a whole non-live request, in seconds (default 60).
        connect_timeout: Time limit for opening a connection, in seconds (default 10).
    """

    def __init__(
        self,
        *,
        headers: Optional[HeadersLike] = None,
        params: Optional[ParamsLike] = None,
        retry: Optional[RetryOptions] = None,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
    ) -> None:
        r = retry if retry is not None else RetryOptions()
        self._c = _durastream.Client(
            headers=dict(headers) if headers else None,
            params=dict(params) if params else None,
            max_retries=r.max_retries,
            initial_delay_ms=r.initial_delay_ms,
            max_delay_ms=r.max_delay_ms,
            multiplier=r.multiplier,
            retry_plain_appends=r.retry_plain_appends,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )
        self.retry = r

    def set_header(self, name: str, value: Union[str, Callable[[], str]]) -> None:
        """Sets a header sent on every later request of this client's handles (replacing
        one of the same name). A callable is evaluated on every request."""
        self._c.set_header(name, value)

    def remove_header(self, name: str) -> None:
        """Stops sending a header set on the client."""
        self._c.remove_header(name)

    def set_param(self, name: str, value: Union[str, Callable[[], str]]) -> None:
        """Sets a query parameter added to every later request (text or a callable)."""
        self._c.set_param(name, value)

    def remove_param(self, name: str) -> None:
        """Stops sending a query parameter set on the client."""
        self._c.remove_param(name)

    def clear_dynamic(self) -> None:
        """Removes every header and query parameter set on the client."""
        self._c.clear_dynamic()


_default_lock = threading.Lock()
_default: Optional[Client] = None


def _default_client() -> Client:
    """The client of handles made without their own settings (one per interpreter; the
    extension rebuilds its connection pool in a forked child)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def _handle(
    url: str,
    *,
    headers: Optional[HeadersLike],
    params: Optional[ParamsLike],
    client: Optional[Client],
    retry: Optional[RetryOptions],
    timeout: Optional[float],
    content_type: Optional[str],
) -> Tuple[Client, Optional[List[Tuple[str, str]]], _durastream.Stream]:
    """The client, extra per-handle headers and Rust stream handle for these settings."""
    if client is None:
        if headers or params or retry is not None or timeout is not None:
            client = Client(headers=headers, params=params, retry=retry, timeout=timeout)
        else:
            client = _default_client()
        extra = None
    else:
        if params or retry is not None or timeout is not None:
            raise TypeError("params, retry and timeout belong to the Client when one is given")
        extra = []
        for name, value in (headers or {}).items():
            if not isinstance(value, str):
                raise TypeError(
                    "with an explicit client, per-handle headers must be str; "
                    "put dynamic headers on the Client"
                )
            extra.append((name, value))
    return client, extra, client._c.stream(url, extra, content_type)


def _is_json(content_type: Optional[str]) -> bool:
    return content_type is not None and _durastream.is_json_content_type(content_type)


def _encode(data: Data, json_stream: bool) -> bytes:
    """The request body for ``append(data)``.

    Bytes-like data is sent as is (on a JSON stream it must be JSON text; a top-level array
    is one batch of messages). On a JSON stream any other value becomes one message
    (wrapped in a one-element batch, so a list stays one message). Elsewhere ``str`` is
    sent as UTF-8 and other values as JSON.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if json_stream:
        return _durastream.json_message(
            json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _optional_bytes(data: Optional[Data], json_stream: bool) -> Optional[bytes]:
    return None if data is None else _encode(data, json_stream)


def _final_bytes(data: Optional[Data], json_stream: bool) -> Optional[bytes]:
    """A final message for ``close``: one message, like ``append``."""
    return _optional_bytes(data, json_stream)


def _fork_url(base: str, target: str) -> str:
    return urllib.parse.urljoin(base, target)


def _head(t: Tuple[Optional[str], str, Optional[int], Optional[str], bool]) -> HeadResult:
    ct, offset, ttl, expires, closed = t
    return HeadResult(
        exists=True, content_type=ct, offset=offset, ttl_seconds=ttl, expires_at=expires,
        closed=closed,
    )


def _created(t: Tuple[bool, int, Optional[str], Optional[str], bool]) -> CreateResult:
    return CreateResult(*t)


class _HandleBase:
    """What the sync and async handles share."""

    def __init__(
        self,
        url: str,
        *,
        headers: Optional[HeadersLike] = None,
        params: Optional[ParamsLike] = None,
        content_type: Optional[str] = None,
        client: Optional[Client] = None,
        retry: Optional[RetryOptions] = None,
        timeout: Optional[float] = None,
    ) -> None:
        self._url = url
        self._client, self._extra, self._s = _handle(
            url,
            headers=headers,
            params=params,
            client=client,
            retry=retry,
            timeout=timeout,
            content_type=content_type,
        )

    @property
    def url(self) -> str:
        """The stream URL."""
        return self._url

    @property
    def content_type(self) -> Optional[str]:
        """The stream's content type, once known (from create, connect, head or a read).
        Setting it spares the ``HEAD`` an append would otherwise send to learn it."""
        return self._s.content_type

    @content_type.setter
    def content_type(self, value: str) -> None:
        self._s.content_type = value

    @property
    def client(self) -> Client:
        """The client this handle uses."""
        return self._client

    def _sibling_kwargs(self) -> Dict[str, Any]:
        """Settings for a handle on another stream (a fork) with the same client."""
        return dict(client=self._client, headers=dict(self._extra) if self._extra else None)

    def _create_args(
        self,
        content_type: Optional[str],
        ttl_seconds: Optional[int],
        expires_at: Optional[str],
        body: Optional[Data],
        closed: bool,
    ) -> Dict[str, Any]:
        ct = content_type or self._s.content_type
        return dict(
            content_type=ct,
            ttl_seconds=ttl_seconds,
            expires_at=expires_at,
            closed=closed,
            body=_optional_bytes(body, False),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url!r})"


class DurableStream(_HandleBase):
    """A synchronous handle on one stream: create, connect, append, close, head, delete,
    fork, read. No request is sent by the constructor; handles are cheap.

    Args:
        url: The stream URL.
        headers: Header values (text or callables evaluated on every request).
        params: Query parameters (text, callables or ``None``).
        content_type: The stream's content type, if known (spares a ``HEAD`` before
            appends).
        client: A :class:`Client` to share settings and connections with other handles.
        retry: Retry policy (without ``client``).
        timeout: Request time limit in seconds (without ``client``).

    Blocking calls release the GIL and can be interrupted with Ctrl-C.
    """

    def __enter__(self) -> DurableStream:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to release: handles own no connection (the stream is not closed)."""

    @classmethod
    def create(
        cls,
        url: str,
        *,
        content_type: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        expires_at: Optional[str] = None,
        body: Optional[Data] = None,
        closed: bool = False,
        headers: Optional[HeadersLike] = None,
        params: Optional[ParamsLike] = None,
        client: Optional[Client] = None,
        retry: Optional[RetryOptions] = None,
        timeout: Optional[float] = None,
    ) -> DurableStream:
        """Creates the stream (or confirms an identical one exists) and returns a handle.
        Raises :class:`StreamConflictError` when it exists with another configuration."""
        h = cls(url, headers=headers, params=params, content_type=content_type, client=client,
                retry=retry, timeout=timeout)
        h.create_stream(content_type=content_type, ttl_seconds=ttl_seconds,
                        expires_at=expires_at, body=body, closed=closed)
        return h

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        headers: Optional[HeadersLike] = None,
        params: Optional[ParamsLike] = None,
        client: Optional[Client] = None,
        retry: Optional[RetryOptions] = None,
        timeout: Optional[float] = None,
    ) -> DurableStream:
        """Returns a handle on an existing stream (checked with ``HEAD``, which also learns
        its content type). Raises :class:`StreamNotFoundError`."""
        h = cls(url, headers=headers, params=params, client=client, retry=retry,
                timeout=timeout)
        h.head()
        return h

    @classmethod
    def head_static(cls, url: str, **kwargs: Any) -> HeadResult:
        """``HEAD`` without keeping a handle."""
        return cls(url, **kwargs).head()

    @classmethod
    def delete_static(cls, url: str, **kwargs: Any) -> None:
        """``DELETE`` without keeping a handle."""
        cls(url, **kwargs).delete()

    def create_stream(
        self,
        *,
        content_type: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        expires_at: Optional[str] = None,
        body: Optional[Data] = None,
        closed: bool = False,
    ) -> CreateResult:
        """Creates this stream (``PUT``); idempotent for an identical configuration.
        ``body`` is initial content; ``closed`` creates it already closed."""
        args = self._create_args(content_type, ttl_seconds, expires_at, body, closed)
        return _created(self._s.create(**args).wait())

    def head(self) -> HeadResult:
        """Stream metadata (``HEAD``)."""
        return _head(self._s.head().wait())

    def delete(self) -> None:
        """Deletes the stream."""
        self._s.delete().wait()

    def _json_stream(self) -> bool:
        ct = self._s.content_type
        if ct is None:
            ct = self.head().content_type
        return _is_json(ct)

    def append(
        self,
        data: Data,
        *,
        seq: Optional[str] = None,
        content_type: Optional[str] = None,
    ) -> AppendResult:
        """Appends one message (JSON streams) or the bytes/text of ``data``, and waits for
        the server's acknowledgement. ``seq`` (``Stream-Seq``) must increase between
        appends and makes the append safe to retry. For many small appends use
        :meth:`producer`, which batches without waiting."""
        json_stream = self._json_stream() if not isinstance(
            data, (bytes, bytearray, memoryview)) else False
        body = _encode(data, json_stream)
        offset, closed = self._s.append(body, None if seq is None else str(seq),
                                        content_type).wait()
        return AppendResult(next_offset=offset, closed=closed)

    def close(self, final_message: Optional[Data] = None) -> CloseResult:
        """Closes the stream (no more appends), optionally appending ``final_message``
        atomically. Closing a closed stream without a message succeeds.

        Note: unlike ``durable-streams`` 0.1, whose ``close()`` released the handle's HTTP
        client, this closes the *stream*. Handles hold no connection to release.
        """
        json_stream = final_message is not None and not isinstance(
            final_message, (bytes, bytearray, memoryview)) and self._json_stream()
        return CloseResult(self._s.close(_final_bytes(final_message, json_stream)).wait())

    def fork(
        self,
        target: str,
        *,
        offset: Optional[Offset] = None,
        sub_offset: Optional[int] = None,
        content_type: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        expires_at: Optional[str] = None,
    ) -> DurableStream:
        """Creates a fork of this stream at ``target`` (a URL, or a path resolved against
        this stream's URL) that shares its data up to ``offset`` (default: the current
        tail), and returns a handle on it."""
        h = DurableStream(_fork_url(self._url, target), **self._sibling_kwargs())
        h._s.create(
            content_type=content_type, ttl_seconds=ttl_seconds, expires_at=expires_at,
            fork_source=self._url, fork_offset=offset, fork_sub_offset=sub_offset,
        ).wait()
        return h

    def stream(
        self,
        *,
        offset: Optional[Offset] = None,
        live: LiveMode = "auto",
        cursor: Optional[str] = None,
    ) -> StreamResponse:
        """Starts a read session from ``offset`` (default: the beginning)."""
        return StreamResponse(self._s, offset=offset, live=live, cursor=cursor)

    def producer(self, producer_id: str, **options: Any) -> IdempotentProducer:
        """An :class:`IdempotentProducer` on this stream (see its options)."""
        from durastream._producer import IdempotentProducer

        return IdempotentProducer(self, producer_id, **options)


class AsyncDurableStream(_HandleBase):
    """The asyncio twin of :class:`DurableStream`: the same methods, awaitable.
    Cancelling the awaiting task aborts the HTTP request."""

    async def __aenter__(self) -> AsyncDurableStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Nothing to release: handles own no connection (the stream is not closed)."""

    @classmethod
    async def create(
        cls,
        url: str,
        *,
        content_type: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        expires_at: Optional[str] = None,
        body: Optional[Data] = None,
        closed: bool = False,
        headers: Optional[HeadersLike] = None,
        params: Optional[ParamsLike] = None,
        client: Optional[Client] = None,
        retry: Optional[RetryOptions] = None,
        timeout: Optional[float] = None,
    ) -> AsyncDurableStream:
        """Creates the stream (or confirms an identical one exists) and returns a handle."""
        h = cls(url, headers=headers, params=params, content_type=content_type, client=client,
                retry=retry, timeout=timeout)
        await h.create_stream(content_type=content_type, ttl_seconds=ttl_seconds,
                              expires_at=expires_at, body=body, closed=closed)
        return h

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        headers: Optional[HeadersLike] = None,
        params: Optional[ParamsLike] = None,
        client: Optional[Client] = None,
        retry: Optional[RetryOptions] = None,
        timeout: Optional[float] = None,
    ) -> AsyncDurableStream:
        """Returns a handle on an existing stream (checked with ``HEAD``)."""
        h = cls(url, headers=headers, params=params, client=client, retry=retry,
                timeout=timeout)
        await h.head()
        return h

    @classmethod
    async def head_static(cls, url: str, **kwargs: Any) -> HeadResult:
        """``HEAD`` without keeping a handle."""
        return await cls(url, **kwargs).head()

    @classmethod
    async def delete_static(cls, url: str, **kwargs: Any) -> None:
        """``DELETE`` without keeping a handle."""
        await cls(url, **kwargs).delete()

    async def create_stream(
        self,
        *,
        content_type: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        expires_at: Optional[str] = None,
        body: Optional[Data] = None,
        closed: bool = False,
    ) -> CreateResult:
        """Creates this stream (``PUT``); idempotent for an identical configuration."""
        args = self._create_args(content_type, ttl_seconds, expires_at, body, closed)
        return _created(await self._s.create(**args))

    async def head(self) -> HeadResult:
        """Stream metadata (``HEAD``)."""
        return _head(await self._s.head())

    async def delete(self) -> None:
        """Deletes the stream."""
        await self._s.delete()

    async def _json_stream(self) -> bool:
        ct = self._s.content_type
        if ct is None:
            ct = (await self.head()).content_type
        return _is_json(ct)

    async def append(
        self,
        data: Data,
        *,
        seq: Optional[str] = None,
        content_type: Optional[str] = None,
    ) -> AppendResult:
        """Appends one message (JSON streams) or the bytes/text of ``data``, and waits for
        the acknowledgement. See :meth:`DurableStream.append`."""
        raw = isinstance(data, (bytes, bytearray, memoryview))
        json_stream = False if raw else await self._json_stream()
        offset, closed = await self._s.append(
            _encode(data, json_stream), None if seq is None else str(seq), content_type)
        return AppendResult(next_offset=offset, closed=closed)

    async def close(self, final_message: Optional[Data] = None) -> CloseResult:
        """Closes the stream, optionally appending ``final_message`` atomically."""
        json_stream = final_message is not None and not isinstance(
            final_message, (bytes, bytearray, memoryview)) and await self._json_stream()
        return CloseResult(await self._s.close(_final_bytes(final_message, json_stream)))

    async def fork(
        self,
        target: str,
        *,
        offset: Optional[Offset] = None,
        sub_offset: Optional[int] = None,
        content_type: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        expires_at: Optional[str] = None,
    ) -> AsyncDurableStream:
        """Creates a fork of this stream at ``target`` and returns a handle on it. See
        :meth:`DurableStream.fork`."""
        h = AsyncDurableStream(_fork_url(self._url, target), **self._sibling_kwargs())
        await h._s.create(
            content_type=content_type, ttl_seconds=ttl_seconds, expires_at=expires_at,
            fork_source=self._url, fork_offset=offset, fork_sub_offset=sub_offset,
        )
        return h

    def stream(
        self,
        *,
        offset: Optional[Offset] = None,
        live: LiveMode = "auto",
        cursor: Optional[str] = None,
    ) -> AsyncStreamResponse:
        """Starts a read session (use ``async with`` / ``async for``)."""
        return AsyncStreamResponse(self._s, offset=offset, live=live, cursor=cursor)

    def producer(self, producer_id: str, **options: Any) -> IdempotentProducer:
        """An :class:`IdempotentProducer` on this stream (use ``async with``)."""
        from durastream._producer import IdempotentProducer

        return IdempotentProducer(self, producer_id, **options)


def stream(
    url: str,
    *,
    offset: Optional[Offset] = None,
    live: LiveMode = "auto",
    cursor: Optional[str] = None,
    headers: Optional[HeadersLike] = None,
    params: Optional[ParamsLike] = None,
    client: Optional[Client] = None,
    retry: Optional[RetryOptions] = None,
    timeout: Optional[float] = None,
) -> StreamResponse:
    """Reads the stream at ``url``: returns a :class:`StreamResponse` to iterate (bytes,
    text, JSON items or batches, events) or read whole. ``live``: ``False`` catch-up only;
    ``"auto"`` (default) catch up, then SSE with a long-poll fallback; ``"long-poll"``;
    ``"sse"``."""
    _, _, s = _handle(url, headers=headers, params=params, client=client, retry=retry,
                   timeout=timeout, content_type=None)
    return StreamResponse(s, offset=offset, live=live, cursor=cursor)


def astream(
    url: str,
    *,
    offset: Optional[Offset] = None,
    live: LiveMode = "auto",
    cursor: Optional[str] = None,
    headers: Optional[HeadersLike] = None,
    params: Optional[ParamsLike] = None,
    client: Optional[Client] = None,
    retry: Optional[RetryOptions] = None,
    timeout: Optional[float] = None,
) -> AsyncStreamResponse:
    """The asyncio form of :func:`stream`: ``async with astream(url) as res`` (or
    ``res = await astream(url)``), then ``async for``."""
    _, _, s = _handle(url, headers=headers, params=params, client=client, retry=retry,
                   timeout=timeout, content_type=None)
    return AsyncStreamResponse(s, offset=offset, live=live, cursor=cursor)


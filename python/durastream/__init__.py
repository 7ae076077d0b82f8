"""durastream: Durable Streams for Python, on a Rust core.

Append-only byte and JSON streams over HTTP, read from any offset in catch-up, long-poll or
SSE mode; an idempotent producer with exactly-once batching; and the server itself, bundled
(:class:`Server`). Synchronous and asyncio APIs side by side, with the names of the
pure-Python ``durable-streams`` client::

    import durastream

    with durastream.Server() as server:
        url = server.stream_url("chat")
        stream = durastream.DurableStream.create(url, content_type="application/json")
        with stream.producer("writer-1") as producer:
            for i in range(3):
                producer.append({"n": i})
        with durastream.stream(url, live=False) as res:
            print(res.read_json())   # [{'n': 0}, {'n': 1}, {'n': 2}]
"""

from durastream import _durastream
from durastream._producer import IdempotentProducer
from durastream._response import AsyncStreamResponse, StreamResponse
from durastream._server import Server
from durastream._stream import AsyncDurableStream, Client, DurableStream, astream, stream
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
    StreamEvent,
)
from durastream.errors import (
    BadRequestError,
    BufferFullError,
    DurableStreamError,
    FetchError,
    InvalidArgumentError,
    InvalidOffsetError,
    NetworkError,
    ParseError,
    ProducerClosedError,
    RequestTimeoutError,
    RetentionGoneError,
    RetryExhaustedError,
    SeqConflictError,
    SequenceConflictError,
    SequenceGapError,
    StaleEpochError,
    StateError,
    StreamClosedError,
    StreamConflictError,
    StreamConsumedError,
    StreamExistsError,
    StreamGoneError,
    StreamNotFoundError,
    UnauthorizedError,
    UnexpectedStatusError,
)

#: The package version (the Rust crates' version).
__version__: str = _durastream.__version__

__all__ = [
    "__version__",
    "stream",
    "astream",
    "Client",
    "DurableStream",
    "AsyncDurableStream",
    "StreamResponse",
    "AsyncStreamResponse",
    "IdempotentProducer",
    "Server",
    "StreamEvent",
    "HeadResult",
    "AppendResult",
    "CreateResult",
    "CloseResult",
    "RetryOptions",
    "LiveMode",
    "Offset",
    "HeadersLike",
    "ParamsLike",
    "DurableStreamError",
    "StreamNotFoundError",
    "StreamGoneError",
    "RetentionGoneError",
    "StreamConflictError",
    "StreamExistsError",
    "StreamClosedError",
    "SeqConflictError",
    "SequenceConflictError",
    "SequenceGapError",
    "StaleEpochError",
    "BadRequestError",
    "InvalidOffsetError",
    "UnauthorizedError",
    "UnexpectedStatusError",
    "RetryExhaustedError",
    "ParseError",
    "NetworkError",
    "FetchError",
    "RequestTimeoutError",
    "InvalidArgumentError",
    "BufferFullError",
    "ProducerClosedError",
    "StreamConsumedError",
    "StateError",
]

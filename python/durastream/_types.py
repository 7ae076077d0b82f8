"""Result and option types (dataclasses) of the durastream API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Generic, Literal, Optional, TypeVar, Union

from durastream import _durastream

__all__ = [
    "Offset",
    "LiveMode",
    "HeadersLike",
    "ParamsLike",
    "StreamEvent",
    "HeadResult",
    "AppendResult",
    "CreateResult",
    "CloseResult",
    "RetryOptions",
]

T = TypeVar("T")

#: An opaque stream offset returned by the server, or ``"-1"`` (start) or ``"now"`` (tail).
Offset = str

#: How a read follows the stream: ``False`` catch-up only; ``True`` or ``"auto"`` catch up
#: then SSE with a long-poll fallback; ``"long-poll"``; ``"sse"``.
LiveMode = Union[bool, Literal["auto", "long-poll", "sse"]]

#: Header values: text, or a callable returning text evaluated on every request.
HeadersLike = Dict[str, Union[str, Callable[[], str]]]

#: Query parameters: text, a callable returning text (evaluated per request), or ``None``
#: (left out).
ParamsLike = Dict[str, Union[str, Callable[[], str], None]]


@dataclass(frozen=True)
class StreamEvent(Generic[T]):
    """One response (or SSE event pair) of a read, with its position.

    Attributes:
        data: The payload: bytes, text, or a list of JSON items depending on the mode.
        next_offset: The offset to resume from after this event.
        up_to_date: The reader had everything that existed when this was sent.
        cursor: The cursor the server sent, if any.
        closed: The stream is closed and this event holds its last data.
        status: HTTP status: 200, or 204 for a long-poll that timed out without data.
    """

    data: T
    next_offset: Offset
    up_to_date: bool
    cursor: Optional[str] = None
    closed: bool = False
    status: int = 200


@dataclass(frozen=True)
class HeadResult:
    """Stream metadata from ``HEAD``.

    Attributes:
        exists: Always ``True`` (a missing stream raises ``StreamNotFoundError``).
        content_type: The stream's content type.
        offset: The tail offset (where the next append lands).
        ttl_seconds: Sliding time-to-live, if set.
        expires_at: Absolute expiry (RFC 3339), if set.
        closed: The stream is closed.
    """

    exists: Literal[True]
    content_type: Optional[str]
    offset: Offset
    ttl_seconds: Optional[int] = None
    expires_at: Optional[str] = None
    closed: bool = False


@dataclass(frozen=True)
class AppendResult:
    """Outcome of an append.

    Attributes:
        next_offset: The tail offset after the append.
        closed: The stream is now closed.
    """

    next_offset: Offset
    closed: bool = False


@dataclass(frozen=True)
class CreateResult:
    """Outcome of a create.

    Attributes:
        created: ``True`` for a new stream; ``False`` when an identical one existed.
        status: The HTTP status (201 or 200).
        next_offset: The tail offset after any initial content.
        content_type: The stream's content type as the server reports it.
        closed: The stream is closed.
    """

    created: bool
    status: int
    next_offset: Optional[Offset]
    content_type: Optional[str]
    closed: bool


@dataclass(frozen=True)
class CloseResult:
    """Outcome of closing a stream.

    Attributes:
        final_offset: The stream's final offset.
    """

    final_offset: Offset


@dataclass(frozen=True)
class RetryOptions:
    """How transient failures are retried (validated on construction).

    Idempotent requests (create, delete, close, ``seq`` appends, producer batches) and reads
    are retried on network errors, timeouts, 408, 429 and retryable 5xx. Plain appends are
    retried only when the server cannot have applied them (connection refused, 429, 500,
    503), unless ``retry_plain_appends`` is ``False``.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retries).
        initial_delay_ms: Upper bound of the first backoff, in milliseconds (> 0).
        max_delay_ms: Upper bound of any backoff (>= ``initial_delay_ms``); ``None``:
            5000, raised to ``initial_delay_ms`` if that is larger.
        multiplier: Growth of the backoff bound per attempt (>= 1).
        retry_plain_appends: Retry plain appends when they cannot have been applied.
    """

    max_retries: int = 8
    initial_delay_ms: float = 100.0
    max_delay_ms: Optional[float] = None
    multiplier: float = 2.0
    retry_plain_appends: bool = True

    def __post_init__(self) -> None:
        _durastream.validate_retry_options(
            self.max_retries, self.initial_delay_ms, self.max_delay_ms, self.multiplier
        )

    @classmethod
    def none(cls) -> RetryOptions:
        """No retries at all."""
        return cls(max_retries=0)


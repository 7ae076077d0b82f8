"""Exceptions raised by durastream.

Every error from the Rust core is raised as one subclass of :class:`DurableStreamError`,
chosen by the core's error kind in one place (the extension's ``error.rs``; the table is
pinned by ``tests/test_errors.py``). The facts travel as attributes, never as text to parse:
``status``, ``url``, ``stream_path``, ``expected_seq``, ``received_seq``, ``current_epoch``,
``final_offset``, ``retry_after``, ``retryable``, ``attempts`` and ``argument``.

Names of the pure-Python ``durable-streams`` client are kept where they mean the same
thing (``StreamNotFoundError``, ``SeqConflictError``, ``RetentionGoneError``,
``StreamExistsError``, ``StreamConsumedError``, ``FetchError``).
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
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
    "class_for_code",
]


class DurableStreamError(Exception):
    """Base class of every durastream error.

    Attributes:
        message: Human-readable description.
        code: Stable upper-case code of the error kind (``NOT_FOUND``, ``STREAM_CLOSED``...),
            the same in every durastream binding.
        status: The HTTP status that caused the error, when there was a response.
        url: The full URL of the stream the request went to.
        stream_path: The path component of ``url``.
        expected_seq: On a sequence gap, the producer sequence the server expected.
        received_seq: On a sequence gap, the producer sequence the server received.
        current_epoch: On a stale epoch, the server's current producer epoch.
        final_offset: On a closed stream, the stream's final offset when known.
        retry_after: The server's ``Retry-After``, in seconds.
        retryable: True when trying the same thing again later may succeed.
        attempts: How many attempts were made (1 when the request was not retried).
        argument: On an invalid argument, the option at fault (camelCase).
    """

    #: Default code of the class (instances carry the core's code).
    default_code = "DURABLE_STREAM_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        url: Optional[str] = None,
        stream_path: Optional[str] = None,
        expected_seq: Optional[int] = None,
        received_seq: Optional[int] = None,
        current_epoch: Optional[int] = None,
        final_offset: Optional[str] = None,
        retry_after: Optional[float] = None,
        retryable: bool = False,
        attempts: int = 1,
        argument: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.status = status
        self.url = url
        self.stream_path = stream_path
        self.expected_seq = expected_seq
        self.received_seq = received_seq
        self.current_epoch = current_epoch
        self.final_offset = final_offset
        self.retry_after = retry_after
        self.retryable = retryable
        self.attempts = attempts
        self.argument = argument

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"(status={self.status})")
        parts.append(f"[{self.code}]")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, code={self.code!r}, "
            f"status={self.status!r})"
        )


class StreamNotFoundError(DurableStreamError):
    """The stream does not exist (404). Create it, or stop using it."""

    default_code = "NOT_FOUND"


class StreamGoneError(DurableStreamError):
    """The stream was deleted while forks use it, or the offset is older than what the
    server retains (410). Start again from ``-1`` or ``now``."""

    default_code = "GONE"


#: The ``durable-streams`` name of :class:`StreamGoneError`.
RetentionGoneError = StreamGoneError


class StreamConflictError(DurableStreamError):
    """The stream exists with another configuration, or the content type does not match
    (409). Fix the request."""

    default_code = "CONFLICT"


#: The ``durable-streams`` name of :class:`StreamConflictError`.
StreamExistsError = StreamConflictError


class StreamClosedError(DurableStreamError):
    """The stream is closed: no more appends (409 with ``Stream-Closed``). See
    ``final_offset``."""

    default_code = "STREAM_CLOSED"


class SeqConflictError(DurableStreamError):
    """A ``Stream-Seq`` value was not greater than the previous one (409); the append was
    not applied (when ``attempts`` > 1 an earlier attempt may have been)."""

    default_code = "SEQUENCE_CONFLICT"


#: Long name of :class:`SeqConflictError`.
SequenceConflictError = SeqConflictError


class SequenceGapError(DurableStreamError):
    """The server expected another producer sequence number (409): see ``expected_seq``
    and ``received_seq``. The producer is fenced until ``restart()``."""

    default_code = "SEQUENCE_GAP"


class StaleEpochError(DurableStreamError):
    """A newer producer epoch exists (403): this producer is a zombie. See
    ``current_epoch``; restart with a higher epoch or use ``auto_claim``."""

    default_code = "STALE_EPOCH"


class BadRequestError(DurableStreamError):
    """The server refused the request as malformed (400, 413, other 4xx). Fix the input."""

    default_code = "BAD_REQUEST"


class InvalidOffsetError(BadRequestError):
    """The server refused the read offset. Use ``-1``, ``now`` or an offset it returned."""

    default_code = "INVALID_OFFSET"


class UnauthorizedError(DurableStreamError):
    """Authentication or authorization failed (401, or 403 outside the producer
    protocol). Refresh credentials."""

    default_code = "UNAUTHORIZED"


class UnexpectedStatusError(DurableStreamError):
    """Any other HTTP status that is not retried (405, 501, a 5xx after a plain append
    that could not be retried safely...)."""

    default_code = "UNEXPECTED_STATUS"


class RetryExhaustedError(DurableStreamError):
    """A transient failure persisted through every retry; ``status`` holds the last
    status. Retrying later may succeed."""

    default_code = "RETRY_EXHAUSTED"


class ParseError(DurableStreamError):
    """A response could not be parsed (malformed JSON or SSE control event, bad base64,
    missing protocol header), or a producer item is not valid JSON."""

    default_code = "PARSE_ERROR"


class NetworkError(DurableStreamError):
    """The connection failed (refused, reset, dropped mid-body, DNS). Retryable."""

    default_code = "NETWORK_ERROR"


#: The ``durable-streams`` name for transport failures.
FetchError = NetworkError


class RequestTimeoutError(NetworkError, builtins.TimeoutError):
    """A request or a deadline timed out. Retryable. Also a built-in ``TimeoutError``."""

    default_code = "TIMEOUT"


class InvalidArgumentError(DurableStreamError, ValueError):
    """An argument was invalid before anything was sent; ``argument`` names it. Also a
    ``ValueError``."""

    default_code = "INVALID_ARGUMENT"


class BufferFullError(DurableStreamError):
    """The producer holds more unacknowledged data than ``max_buffered_bytes``. Wait for
    ``flush()`` or use ``append_wait``."""

    default_code = "BUFFER_FULL"


class ProducerClosedError(DurableStreamError):
    """The producer was closed or detached and accepts no more data."""

    default_code = "PRODUCER_CLOSED"


class StreamConsumedError(DurableStreamError):
    """A stream response was consumed a second time (responses are one-shot)."""

    default_code = "ALREADY_CONSUMED"


class StateError(DurableStreamError):
    """A State Protocol error. ``code`` says which: ``MALFORMED_EVENT`` (an event does not
    follow the protocol; fix its producer), ``DECODE_ERROR`` (a value does not fit the
    requested class), ``INVALID_ARGUMENT``, ``BAD_CHECKPOINT`` (start from the beginning
    instead) or ``STOPPED`` (the follower stopped on a malformed event).

    Attributes (besides those of :class:`DurableStreamError`):
        field: The field at fault (``type``, ``key``, ``value``, ``headers.operation``...;
            ``""`` for the event as a whole).
        index: The event's position in its batch.
        offset: The stream offset of the batch holding the event (followers).
    """

    default_code = "MALFORMED_EVENT"

    def __init__(
        self,
        message: str,
        *,
        field: Optional[str] = None,
        index: Optional[int] = None,
        offset: Optional[str] = None,
        code: Optional[str] = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable)
        self.field = field
        self.index = index
        self.offset = offset


def class_for_code(code: str) -> type[DurableStreamError]:
    """The exception class raised for a core error code (``NOT_FOUND`` ->
    :class:`StreamNotFoundError`), as the extension maps it."""
    from durastream import _durastream

    names = dict(_durastream.error_classes())
    cls = globals().get(names.get(code, "DurableStreamError"), DurableStreamError)
    assert isinstance(cls, type) and issubclass(cls, DurableStreamError)
    return cls

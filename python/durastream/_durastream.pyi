"""Type stubs of the compiled module ``durastream._durastream`` (checked against the
built extension by ``mypy.stubtest`` in ``test.sh``)."""

from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple, Union, final

__version__: str
__all__ = [
    "Chunk",
    "Client",
    "Pending",
    "Producer",
    "Reader",
    "Server",
    "State",
    "StateFollower",
    "Stream",
    "__version__",
    "build_change_event",
    "error_classes",
    "is_json_content_type",
    "json_message",
    "json_minify",
    "run_cli",
    "validate_producer_options",
    "validate_retry_options",
    "validate_state_event",
]

_Value = Union[str, Callable[[], str]]

@final
class Pending:
    """A network operation not started yet: ``wait()`` it or ``await`` it (once)."""

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Runs the operation with the GIL released; Ctrl-C interrupts it."""
    def __await__(self) -> Generator[Any, None, Any]:
        """Runs the operation on the extension's runtime for asyncio."""

@final
class Client:
    """Headers, parameters, retry policy and time limits."""

    def __new__(
        cls,
        headers: Optional[Dict[str, Optional[_Value]]] = None,
        params: Optional[Dict[str, Optional[_Value]]] = None,
        max_retries: Optional[int] = None,
        initial_delay_ms: Optional[float] = None,
        max_delay_ms: Optional[float] = None,
        multiplier: Optional[float] = None,
        retry_plain_appends: Optional[bool] = None,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        long_poll_timeout: Optional[float] = None,
    ) -> Client: ...
    def set_header(self, name: str, value: _Value) -> None:
        """Sets a header for every later request."""
    def remove_header(self, name: str) -> None:
        """Stops sending a header."""
    def set_param(self, name: str, value: _Value) -> None:
        """Sets a query parameter for every later request."""
    def remove_param(self, name: str) -> None:
        """Stops sending a query parameter."""
    def clear_dynamic(self) -> None:
        """Removes every header and parameter."""
    def stream(
        self,
        url: str,
        headers: Optional[Sequence[Tuple[str, str]]] = None,
        content_type: Optional[str] = None,
    ) -> Stream:
        """A handle on the stream at ``url``."""

@final
class Stream:
    """One stream's operations."""

    @property
    def url(self) -> str:
        """The stream URL."""
    @property
    def content_type(self) -> Optional[str]:
        """The content type when known."""
    @content_type.setter
    def content_type(self, value: str) -> None: ...
    def create(
        self,
        content_type: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        expires_at: Optional[str] = None,
        closed: bool = False,
        body: Optional[bytes] = None,
        fork_source: Optional[str] = None,
        fork_offset: Optional[str] = None,
        fork_sub_offset: Optional[int] = None,
    ) -> Pending:
        """``PUT``: ``(created, status, next_offset, content_type, closed)``."""
    def head(self) -> Pending:
        """``HEAD``: ``(content_type, next_offset, ttl_seconds, expires_at, closed)``."""
    def delete(self) -> Pending:
        """``DELETE``."""
    def append(
        self, body: bytes, seq: Optional[str] = None, content_type: Optional[str] = None
    ) -> Pending:
        """``POST``: ``(next_offset, closed)``."""
    def close(self, final_message: Optional[bytes] = None) -> Pending:
        """Closes the stream: the final offset."""
    def read(self, offset: str = "-1", live: str = "off", cursor: Optional[str] = None) -> Reader:
        """A reader."""
    def producer(
        self,
        producer_id: str,
        epoch: int = 0,
        auto_claim: bool = False,
        max_batch_bytes: Optional[int] = None,
        max_batch_items: Optional[int] = None,
        linger_ms: Optional[float] = None,
        max_in_flight: Optional[int] = None,
        max_buffered_bytes: Optional[int] = None,
        content_type: Optional[str] = None,
        on_error: Optional[Callable[[Any], object]] = None,
    ) -> Producer:
        """An idempotent producer."""

@final
class Chunk:
    """One response (or SSE event pair) of a read."""

    @property
    def data(self) -> bytes:
        """The bytes."""
    @property
    def next_offset(self) -> str:
        """The offset to resume from."""
    @property
    def up_to_date(self) -> bool:
        """Up to date when sent."""
    @property
    def closed(self) -> bool:
        """The stream is closed."""
    @property
    def cursor(self) -> Optional[str]:
        """The cursor."""
    @property
    def status(self) -> int:
        """HTTP status (200 or 204)."""
    @property
    def json(self) -> bool:
        """``data`` is a JSON array of messages."""
    @property
    def empty(self) -> bool:
        """No data."""
    def items(self) -> List[Any]:
        """The JSON messages (``ParseError`` on bad JSON)."""

@final
class Reader:
    """Reads one stream."""

    def next_batch(self, max_chunks: int = 16) -> Pending:
        """Up to ``max_chunks`` chunks (``list[Chunk]``; empty once ended)."""
    def set_check_json(self, on: bool) -> None:
        """Whether JSON chunks are checked before delivery (default on)."""
    def close(self) -> None:
        """Stops the reader."""

@final
class Producer:
    """An idempotent producer."""

    def append(self, item: bytes) -> None:
        """Queues an item without waiting."""
    def append_json(self, value: object) -> bool:
        """Queues a value as one JSON message; ``False`` if it holds an unsupported type."""
    def append_wait(self, item: bytes) -> Pending:
        """Queues an item, waiting for room."""
    def flush(self) -> Pending:
        """Waits until everything is acknowledged."""
    def close(self, final_message: Optional[bytes] = None) -> Pending:
        """Closes the stream through the producer: the final offset."""
    def detach(self) -> Pending:
        """Stops without closing the stream."""
    def restart(self) -> Pending:
        """Starts a new epoch: the epoch."""
    @property
    def id(self) -> str:
        """The producer id."""
    @property
    def epoch(self) -> int:
        """The current epoch."""
    @property
    def next_seq(self) -> int:
        """The next sequence number."""
    @property
    def last_offset(self) -> Optional[str]:
        """The last acknowledged tail offset."""
    @property
    def buffered_bytes(self) -> int:
        """Unacknowledged bytes."""
    @property
    def pending_count(self) -> int:
        """Unacknowledged items."""
    @property
    def in_flight_count(self) -> int:
        """Batches waiting for the server's answer."""
    @property
    def error(self) -> Optional[Exception]:
        """The fatal error, if any."""

@final
class Server:
    """A running server."""

    @staticmethod
    def start(
        data_dir: Optional[str] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "/v1/stream",
        long_poll_timeout_ms: Optional[int] = None,
        test_faults: bool = False,
        max_body_bytes: Optional[int] = None,
        max_read_bytes: Optional[int] = None,
        fsync: str = "always",
        fsync_interval_ms: int = 100,
        webhooks: bool = False,
        allow_localhost_webhooks: bool = False,
        public_url: Optional[str] = None,
        auth_tokens: Optional[str] = None,
        auth_jwt_secret: Optional[str] = None,
        auth_jwt_public_key_pem: Optional[str] = None,
        auth_jwt_jwks_url: Optional[str] = None,
        cors_origins: Optional[str] = None,
    ) -> Pending:
        """Starts a server: resolves to the ``Server``."""
    @property
    def url(self) -> str:
        """The root URL."""
    @property
    def prefix(self) -> str:
        """The stream path prefix."""
    @property
    def port(self) -> int:
        """The port."""
    @property
    def running(self) -> bool:
        """Not shut down yet."""
    def shutdown(self) -> Pending:
        """Stops the server gracefully."""

def run_cli(argv: List[str]) -> int:
    """Runs the ``durastream`` command; returns its exit status."""

def validate_retry_options(
    max_retries: Optional[int] = None,
    initial_delay_ms: Optional[float] = None,
    max_delay_ms: Optional[float] = None,
    multiplier: Optional[float] = None,
) -> None:
    """Raises ``InvalidArgumentError`` for invalid retry options."""

def validate_producer_options(
    producer_id: Optional[str] = None,
    epoch: Optional[int] = None,
    max_batch_bytes: Optional[int] = None,
    max_batch_items: Optional[int] = None,
    max_in_flight: Optional[int] = None,
    linger_ms: Optional[float] = None,
) -> None:
    """Raises ``InvalidArgumentError`` for invalid producer options."""

def error_classes() -> List[Tuple[str, str]]:
    """``(code, class name)`` for every core error kind."""

def json_minify(text: str) -> str:
    """Compact JSON text."""

def json_message(value: bytes) -> bytes:
    """The append body storing one JSON value (JSON text) as one message."""

def is_json_content_type(content_type: str) -> bool:
    """True for JSON content types."""

@final
class State:
    """Core's materialized state (type -> key -> JSON value)."""

    def __new__(cls, json: Optional[str] = None) -> State: ...
    def apply_json(
        self, data: Union[str, bytes], malformed: str = "stop", changes: bool = False
    ) -> Tuple[int, List[Any], Optional[str]]:
        """Applies a JSON array of events: ``(applied, malformed errors, changes JSON)``."""
    def get(self, entity_type: str, key: str) -> Optional[str]:
        """The JSON text at ``type``/``key``."""
    def entries(self, entity_type: str) -> List[Tuple[str, str]]:
        """``(key, JSON text)`` of a type, sorted by key."""
    def has(self, entity_type: str, key: str) -> bool:
        """True when ``type``/``key`` is present."""
    def size(self, entity_type: str) -> int:
        """The number of entities of a type."""
    def types(self) -> List[str]:
        """The types holding at least one entity, sorted."""
    def total(self) -> int:
        """The number of entities of every type."""
    @property
    def in_snapshot(self) -> bool:
        """True inside an open snapshot."""
    def clear(self) -> None:
        """Removes every entity."""
    def to_json(self) -> str:
        """The state as sorted JSON."""

@final
class StateFollower:
    """A live follower of a State Protocol stream."""

    def __new__(
        cls,
        stream: Stream,
        checkpoint: Optional[str] = None,
        live: str = "auto",
        malformed: str = "skip",
    ) -> StateFollower: ...
    def next(self) -> Pending:
        """The next applied batch, or None at the end."""
    def view(self) -> State:
        """The state after the last up-to-date batch."""
    def position(self) -> Tuple[str, bool]:
        """``(offset, consistent)`` of the view."""
    def checkpoint(self) -> str:
        """The view as a checkpoint (JSON)."""
    def close(self) -> None:
        """Stops following."""

def validate_state_event(event: str) -> None:
    """Raises ``StateError`` naming the field for a malformed event."""

def build_change_event(
    operation: str,
    entity_type: str,
    key: str,
    value: Optional[str] = None,
    old_value: Optional[str] = None,
    headers: Optional[List[Tuple[str, str]]] = None,
) -> str:
    """A change event built by the core, as JSON text."""

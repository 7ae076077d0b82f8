"""The Durable Streams State Protocol: materialized state from a stream, kept live.

Change events (``insert``, ``update``, ``upsert``, ``delete`` of an entity ``type``/``key``)
and control events (``snapshot-start``, ``snapshot-end``, ``reset``) on a JSON stream build a
state: type -> key -> value. Every rule (validation, materialization, snapshots, resets,
consistent points) runs in durastream's Rust core, the same code as in every other binding;
this module converts values and runs callbacks::

    import durastream
    from durastream import state

    with durastream.Server() as server:
        stream = durastream.DurableStream.create(server.stream_url("room"),
                                                 content_type="application/json")
        with stream.producer("room-writer") as producer:
            writer = state.StateWriter(producer)
            writer.insert("presence", "ann", {"status": "online"})
        with state.StateFollower(stream, live=False) as follower:
            follower.wait_consistent()
            print(follower.state.get("presence", "ann"))   # {'status': 'online'}

Typed entities: ``get(type, key, Model)`` decodes the value into a pydantic model (when
pydantic is installed and ``Model`` is one), a dataclass, or any class taking the value's
fields as keyword arguments.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Type,
    TypeVar,
    Union,
    overload,
)

from durastream import _durastream
from durastream._stream import AsyncDurableStream, DurableStream
from durastream.errors import StateError

__all__ = [
    "Change",
    "MaterializedState",
    "StateView",
    "StateUpdate",
    "StateFollower",
    "AsyncStateFollower",
    "StateWriter",
    "StateError",
    "insert",
    "update",
    "upsert",
    "delete",
    "reset",
    "snapshot_start",
    "snapshot_end",
    "validate",
    "is_change_event",
    "is_control_event",
]

T = TypeVar("T")
Event = Dict[str, Any]
Listener = Callable[[List["Change"]], None]


@dataclass(frozen=True)
class Change:
    """What applying one event did.

    ``kind`` is ``set`` (insert, update or upsert; ``operation`` says which), ``delete``
    (``previous`` is None when the key was absent and nothing changed), ``reset``,
    ``snapshot-start`` or ``snapshot-end`` (``offset`` is the event's ``headers.offset``).
    """

    kind: str
    type: Optional[str] = None
    key: Optional[str] = None
    operation: Optional[str] = None
    value: Any = None
    previous: Any = None
    offset: Optional[str] = None

    @staticmethod
    def _list(text: str) -> List[Change]:
        return [Change(**c) for c in json.loads(text)]


def _to_jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a pydantic model
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _json_text(value: Any) -> str:
    return json.dumps(_to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def _decode(value: Any, cls: Optional[Type[T]]) -> Any:
    if cls is None:
        return value
    validate = getattr(cls, "model_validate", None)
    try:
        if callable(validate):  # a pydantic model
            return validate(value)
        if isinstance(value, Mapping):
            return cls(**value)
        return cls(value)  # type: ignore[call-arg]
    except Exception as e:  # the class refuses the value: say which and why
        raise StateError(
            f"value does not decode into {cls.__name__}: {e}", code="DECODE_ERROR"
        ) from e


class _Reader:
    """Read-only queries shared by :class:`MaterializedState` and :class:`StateView`."""

    _n: _durastream.State

    @overload
    def get(self, type: str, key: str, cls: None = None) -> Any: ...
    @overload
    def get(self, type: str, key: str, cls: Type[T]) -> Optional[T]: ...
    def get(self, type: str, key: str, cls: Optional[Type[T]] = None) -> Any:
        """The value at ``type``/``key`` (None when absent), decoded into ``cls`` if given."""
        text = self._n.get(type, key)
        return None if text is None else _decode(json.loads(text), cls)

    @overload
    def get_all(self, type: str, cls: None = None) -> Dict[str, Any]: ...
    @overload
    def get_all(self, type: str, cls: Type[T]) -> Dict[str, T]: ...
    def get_all(self, type: str, cls: Optional[Type[T]] = None) -> Dict[str, Any]:
        """Every entity of a type, sorted by key, decoded into ``cls`` if given."""
        return {k: _decode(json.loads(v), cls) for k, v in self._n.entries(type)}

    def has(self, type: str, key: str) -> bool:
        """True when ``type``/``key`` is present."""
        return self._n.has(type, key)

    def size(self, type: str) -> int:
        """The number of entities of a type."""
        return self._n.size(type)

    def __len__(self) -> int:
        """The number of entities of every type."""
        return self._n.total()

    @property
    def types(self) -> List[str]:
        """The types holding at least one entity, sorted."""
        return self._n.types()

    @property
    def in_snapshot(self) -> bool:
        """True between a ``snapshot-start`` and its ``snapshot-end``."""
        return self._n.in_snapshot

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        """The whole state as ``{type: {key: value}}``, sorted."""
        out: Dict[str, Dict[str, Any]] = json.loads(self._n.to_json())
        return out


class MaterializedState(_Reader):
    """type -> key -> value, built by the core from events in stream order.

    ``apply`` / ``apply_batch`` take events as dicts; ``apply_json`` takes a read chunk
    (a JSON array, ``str`` or ``bytes``) without decoding it in Python. A malformed event
    raises :class:`StateError` naming the field, and its batch applies nothing, unless
    ``malformed="skip"``. Callbacks registered with :meth:`subscribe` receive the changes.
    """

    def __init__(self) -> None:
        self._n = _durastream.State()
        self._listeners: List[Listener] = []

    @classmethod
    def from_dict(cls, data: Union[str, Mapping[str, Mapping[str, Any]]]) -> MaterializedState:
        """A state restored from :meth:`to_dict` output (or its JSON text)."""
        s = cls()
        s._n = _durastream.State(data if isinstance(data, str) else json.dumps(data))
        return s

    def apply(self, event: Event) -> None:
        """Applies one event."""
        self.apply_batch([event])

    def apply_batch(self, events: Sequence[Event]) -> None:
        """Applies events in order, in one call to the core."""
        self.apply_json(json.dumps(list(events), separators=(",", ":")))

    def apply_json(
        self, data: Union[str, bytes], malformed: Literal["skip", "stop"] = "stop"
    ) -> List[StateError]:
        """Applies a JSON array of events; returns the malformed events skipped (with
        ``malformed="skip"``)."""
        _, errors, changes = self._n.apply_json(data, malformed, bool(self._listeners))
        if changes is not None:
            self._emit(Change._list(changes))
        return list(errors)

    def clear(self) -> None:
        """Removes every entity."""
        self._n.clear()
        self._emit([Change(kind="reset")])

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Calls ``callback(changes)`` after each apply; returns an unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _emit(self, changes: List[Change]) -> None:
        if changes:
            for cb in list(self._listeners):
                cb(changes)


class StateView(_Reader):
    """A follower's state at its last up-to-date batch (read-only)."""

    def __init__(self, native: _durastream.State) -> None:
        self._n = native


@dataclass(frozen=True)
class StateUpdate:
    """One batch applied by a follower."""

    changes: List[Change]
    malformed: List[StateError] = field(default_factory=list)
    offset: str = "-1"
    up_to_date: bool = False
    consistent: bool = False
    closed: bool = False


def is_change_event(event: Mapping[str, Any]) -> bool:
    """True when the event's headers carry ``operation``."""
    h = event.get("headers")
    return isinstance(h, Mapping) and "operation" in h


def is_control_event(event: Mapping[str, Any]) -> bool:
    """True when the event's headers carry ``control``."""
    h = event.get("headers")
    return isinstance(h, Mapping) and "control" in h


def validate(event: Union[Event, str]) -> None:
    """Checks an event against the protocol; raises :class:`StateError` naming the field."""
    _durastream.validate_state_event(event if isinstance(event, str) else json.dumps(event))


def _change(
    op: str,
    type: str,
    key: str,
    value: Any,
    old_value: Any,
    txid: Optional[str],
    timestamp: Optional[str],
    headers: Optional[Mapping[str, str]],
) -> Event:
    h = list((headers or {}).items())
    if txid is not None:
        h.append(("txid", txid))
    if timestamp is not None:
        h.append(("timestamp", timestamp))
    text = _durastream.build_change_event(
        op,
        type,
        key,
        None if op == "delete" else _json_text(value),
        None if old_value is None else _json_text(old_value),
        h or None,
    )
    out: Event = json.loads(text)
    return out


def insert(type: str, key: str, value: Any, *, txid: Optional[str] = None,
           timestamp: Optional[str] = None, headers: Optional[Mapping[str, str]] = None) -> Event:
    """An insert event (``value``: JSON-able, a dataclass or a pydantic model)."""
    return _change("insert", type, key, value, None, txid, timestamp, headers)


def update(type: str, key: str, value: Any, *, old_value: Any = None, txid: Optional[str] = None,
           timestamp: Optional[str] = None, headers: Optional[Mapping[str, str]] = None) -> Event:
    """An update event, with ``old_value`` when given."""
    return _change("update", type, key, value, old_value, txid, timestamp, headers)


def upsert(type: str, key: str, value: Any, *, txid: Optional[str] = None,
           timestamp: Optional[str] = None, headers: Optional[Mapping[str, str]] = None) -> Event:
    """An upsert event (insert or replace), as the npm helpers write it."""
    return _change("upsert", type, key, value, None, txid, timestamp, headers)


def delete(type: str, key: str, *, old_value: Any = None, txid: Optional[str] = None,
           timestamp: Optional[str] = None, headers: Optional[Mapping[str, str]] = None) -> Event:
    """A delete event."""
    return _change("delete", type, key, None, old_value, txid, timestamp, headers)


def _control(control: str, offset: Optional[str]) -> Event:
    event: Event = {"headers": {"control": control}}
    if offset is not None:
        event["headers"]["offset"] = offset
    validate(event)
    return event


def reset(offset: Optional[str] = None) -> Event:
    """A ``reset`` control event: followers clear their state."""
    return _control("reset", offset)


def snapshot_start(offset: Optional[str] = None) -> Event:
    """A ``snapshot-start`` control event."""
    return _control("snapshot-start", offset)


def snapshot_end(offset: Optional[str] = None) -> Event:
    """A ``snapshot-end`` control event."""
    return _control("snapshot-end", offset)


class StateWriter:
    """Writes events through an idempotent producer (``stream.producer(...)``), so each
    lands exactly once even when a batch is retried. Each event is built and checked by
    the core before it is queued; ``producer.flush()`` waits for the acknowledgement."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer

    def write(self, event: Event) -> None:
        """Checks and queues any event."""
        text = json.dumps(event, separators=(",", ":"))
        _durastream.validate_state_event(text)
        self.producer.append(text.encode())

    def insert(self, type: str, key: str, value: Any, **kw: Any) -> None:
        """Queues an insert."""
        self.write(insert(type, key, value, **kw))

    def update(self, type: str, key: str, value: Any, **kw: Any) -> None:
        """Queues an update."""
        self.write(update(type, key, value, **kw))

    def upsert(self, type: str, key: str, value: Any, **kw: Any) -> None:
        """Queues an upsert."""
        self.write(upsert(type, key, value, **kw))

    def delete(self, type: str, key: str, **kw: Any) -> None:
        """Queues a delete."""
        self.write(delete(type, key, **kw))


def _native_stream(stream: Union[str, DurableStream, AsyncDurableStream]) -> _durastream.Stream:
    handle = DurableStream(stream) if isinstance(stream, str) else stream
    return handle._s


def _live(live: Union[bool, str]) -> str:
    if live is True:
        return "auto"
    if live is False:
        return "off"
    return live


class _FollowerBase:
    def __init__(
        self,
        stream: Union[str, DurableStream, AsyncDurableStream],
        *,
        checkpoint: Optional[str] = None,
        live: Union[bool, str] = True,
        malformed: Literal["skip", "stop"] = "skip",
        on_malformed: Optional[Callable[[StateError], None]] = None,
        on_change: Optional[Listener] = None,
    ) -> None:
        self._f = _durastream.StateFollower(
            _native_stream(stream), checkpoint, _live(live), malformed
        )
        self._on_malformed = on_malformed
        self._on_change = on_change

    def _update(self, raw: Any) -> Optional[StateUpdate]:
        if raw is None:
            return None
        changes, malformed, offset, up_to_date, consistent, closed = raw
        u = StateUpdate(Change._list(changes), list(malformed), offset, up_to_date,
                        consistent, closed)
        if self._on_malformed:
            for e in u.malformed:
                self._on_malformed(e)
        if self._on_change and u.changes:
            self._on_change(u.changes)
        return u

    def _failed(self, e: BaseException) -> None:
        if self._on_malformed and isinstance(e, StateError) and e.code == "MALFORMED_EVENT":
            self._on_malformed(e)

    @property
    def state(self) -> StateView:
        """The state at the last up-to-date batch (a snapshot: later batches do not
        change it; read the property again)."""
        return StateView(self._f.view())

    @property
    def offset(self) -> str:
        """The offset of :attr:`state`."""
        return self._f.position()[0]

    @property
    def consistent(self) -> bool:
        """True when :attr:`state` is consistent: up to date and outside a snapshot."""
        return self._f.position()[1]

    def checkpoint(self) -> str:
        """:attr:`state` and its offset as JSON, to pass as ``checkpoint=`` later."""
        return self._f.checkpoint()

    def close(self) -> None:
        """Stops following: a pending ``next`` returns None, the connection closes."""
        self._f.close()


class StateFollower(_FollowerBase):
    """Follows a State Protocol stream, blocking: catches up, then follows live
    (``live=False`` stops once caught up). Iterating yields each applied batch
    (:class:`StateUpdate`); :meth:`changes` yields each :class:`Change`. Malformed events
    are skipped and reported (``malformed="skip"``) or stop the follower (``"stop"``)."""

    def __enter__(self) -> StateFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next(self, timeout: Optional[float] = None) -> Optional[StateUpdate]:
        """Reads and applies the next batch; None once the stream ended or after close()."""
        try:
            return self._update(self._f.next().wait(timeout))
        except StateError as e:
            self._failed(e)
            raise

    def wait_consistent(self, timeout: Optional[float] = None) -> bool:
        """Applies batches until the state is consistent; False when the stream ended
        first."""
        if self.consistent:
            return True
        while (u := self.next(timeout)) is not None:
            if u.consistent:
                return True
        return False

    def __iter__(self) -> Iterator[StateUpdate]:
        while (u := self.next()) is not None:
            yield u

    def changes(self) -> Iterator[Change]:
        """Each change, one at a time."""
        for u in self:
            yield from u.changes


class AsyncStateFollower(_FollowerBase):
    """The asyncio twin of :class:`StateFollower`: ``async for update in follower``."""

    async def __aenter__(self) -> AsyncStateFollower:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def next(self) -> Optional[StateUpdate]:
        """Reads and applies the next batch; None once the stream ended or after close()."""
        try:
            return self._update(await self._f.next())
        except StateError as e:
            self._failed(e)
            raise

    async def wait_consistent(self) -> bool:
        """Applies batches until the state is consistent; False when the stream ended
        first."""
        if self.consistent:
            return True
        while (u := await self.next()) is not None:
            if u.consistent:
                return True
        return False

    async def __aiter__(self) -> AsyncIterator[StateUpdate]:
        while (u := await self.next()) is not None:
            yield u

    async def changes(self) -> AsyncIterator[Change]:
        """Each change, one at a time."""
        async for u in self:
            for c in u.changes:
                yield c

"""The live state followers (sync and asyncio): catch up, follow, consistent points,
checkpoints, malformed events; state written exactly once through the producer."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, List

import pytest

import durastream
from durastream import state
from durastream.errors import StateError, StreamNotFoundError

from conftest import run


def created(url: str) -> durastream.DurableStream:
    return durastream.DurableStream.create(url, content_type="application/json")


def append_all(s: durastream.DurableStream, events: List[Any]) -> None:
    for e in events:
        s.append(e)


def test_catches_up_then_follows_live(url: str) -> None:
    s = created(url)
    with s.producer("room-writer") as p:
        w = state.StateWriter(p)
        w.insert("presence", "ann", {"status": "online"})
        w.insert("presence", "bob", {"status": "online"})
        p.flush()
        changed: List[state.Change] = []
        with state.StateFollower(s, on_change=changed.extend) as f:
            assert not f.consistent
            assert f.wait_consistent(timeout=10)
            assert f.state.get("presence", "ann") == {"status": "online"}
            assert f.state.size("presence") == 2
            w.update("presence", "ann", {"status": "away"})
            w.delete("presence", "bob")
            p.flush()
            got = []
            for c in f.changes():
                got.append(c)
                if len(got) == 2:
                    break
            assert (got[0].kind, got[0].previous) == ("set", {"status": "online"})
            assert (got[1].kind, got[1].key) == ("delete", "bob")
            assert f.state.to_dict() == {"presence": {"ann": {"status": "away"}}}
            assert len(changed) >= 4


def test_snapshots_consistency_and_checkpoints(url: str) -> None:
    s = created(url)
    append_all(s, [state.snapshot_start(), state.insert("flag", "dark", True)])
    with state.StateFollower(s, live=False) as f:
        u = f.next()
        assert u is not None and u.up_to_date and not u.consistent
        assert f.next() is None
        assert not f.consistent
    s.append(state.snapshot_end())
    with state.StateFollower(s, live=False) as g:
        assert g.wait_consistent()
        saved = g.checkpoint()
        assert json.loads(saved)["offset"] == g.offset
    s.append(state.insert("flag", "beta", False))
    with state.StateFollower(s, live=False, checkpoint=saved) as r:
        assert r.state.get("flag", "dark") is True, "the checkpoint's state before any read"
        u = r.next()
        assert u is not None and [c.key for c in u.changes] == ["beta"], "only the tail"
        assert r.state.to_dict() == {"flag": {"beta": False, "dark": True}}
    with pytest.raises(StateError) as info:
        state.StateFollower(s, checkpoint="{}")
    assert info.value.code == "BAD_CHECKPOINT"


def test_malformed_events_skip_or_stop(url: str) -> None:
    s = created(url)
    bad = {"type": "t", "key": "b", "headers": {"operation": "teleport"}}
    append_all(s, [state.insert("t", "a", 1), bad, state.insert("t", "c", 3)])
    reported: List[StateError] = []
    with state.StateFollower(s, live=False, on_malformed=reported.append) as f:
        u = f.next()
        assert u is not None and len(u.changes) == 2
        assert (u.malformed[0].field, u.malformed[0].index) == ("headers.operation", 1)
        assert reported == u.malformed
        assert f.state.to_dict() == {"t": {"a": 1, "c": 3}}
    with state.StateFollower(s, live=False, malformed="stop") as stop:
        with pytest.raises(StateError) as first:
            stop.next()
        assert first.value.code == "MALFORMED_EVENT"
        with pytest.raises(StateError) as again:
            stop.next()
        assert again.value.code == "STOPPED"


def test_close_ends_a_live_follower(url: str) -> None:
    s = created(url)
    f = state.StateFollower(s, live="long-poll")
    threading.Timer(0.2, f.close).start()
    t0 = time.monotonic()
    updates = list(f)
    assert time.monotonic() - t0 < 5 and len(updates) <= 1


def test_missing_stream_raises_the_client_error(url: str) -> None:
    with state.StateFollower(url, live=False) as f:
        with pytest.raises(StreamNotFoundError):
            f.next()


def test_async_follower(url: str) -> None:
    s = created(url)
    append_all(s, [state.insert("room", "lobby", {"users": 1})])

    async def main() -> None:
        a = durastream.AsyncDurableStream(url)
        async with state.AsyncStateFollower(a) as f:
            assert await f.wait_consistent()
            assert f.state.get("room", "lobby") == {"users": 1}
            later = state.update("room", "lobby", {"users": 2})
            threading.Timer(0.1, lambda: s.append(later)).start()
            async for c in f.changes():
                assert (c.kind, c.value) == ("set", {"users": 2})
                break
            assert f.state.get("room", "lobby") == {"users": 2}

    run(main())

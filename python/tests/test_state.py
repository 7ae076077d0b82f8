"""The State Protocol in Python: MaterializedState, builders, typed entities, StateError,
and agreement with @durable-streams/state on the shared fixtures (tests/state/fixtures)."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, List

import pytest

from durastream import state
from durastream.errors import DurableStreamError, StateError

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "state" / "fixtures"


def same(a: Any, b: Any) -> bool:
    """JSON equality where numbers compare by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def fixture_files() -> List[pathlib.Path]:
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 10, files
    return files


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.name)
def test_every_fixture_materializes_to_its_expected_result(path: pathlib.Path) -> None:
    f = json.loads(path.read_text())
    # The events' own text, so big numbers reach the core exactly as written.
    events = json.dumps(f["events"])
    s = state.MaterializedState()
    malformed = s.apply_json(events, malformed="skip")
    assert [e.index for e in malformed] == f["expected"]["malformed"]
    assert all(isinstance(e, StateError) and e.code == "MALFORMED_EVENT" for e in malformed)
    expected = {t: keys for t, keys in f["expected"]["state"].items() if keys}
    assert same(s.to_dict(), expected)


def test_apply_get_and_clear() -> None:
    s = state.MaterializedState()
    s.apply(state.insert("user", "1", {"name": "Ann"}))
    s.apply_batch([
        state.insert("user", "2", {"name": "Bob"}),
        state.update("user", "1", {"name": "Ann B."}, old_value={"name": "Ann"}),
        state.upsert("room", "r", 1),
        state.delete("user", "2"),
    ])
    assert s.get("user", "1") == {"name": "Ann B."}
    assert s.get("user", "2") is None
    assert s.get_all("user") == {"1": {"name": "Ann B."}}
    assert s.types == ["room", "user"]
    assert s.size("user") == 1 and len(s) == 2 and s.has("room", "r")
    s.apply(state.reset())
    assert s.to_dict() == {}
    s.apply(state.insert("t", "k", True))
    s.clear()
    assert len(s) == 0


def test_malformed_events_raise_state_error_naming_the_field() -> None:
    s = state.MaterializedState()
    with pytest.raises(StateError) as info:
        s.apply_batch([state.insert("t", "a", 1),
                       {"type": "t", "key": "b", "headers": {"operation": "explode"}}])
    assert info.value.code == "MALFORMED_EVENT"
    assert info.value.field == "headers.operation" and info.value.index == 1
    assert isinstance(info.value, DurableStreamError)
    assert len(s) == 0, "a batch holding a malformed event applies nothing"
    skipped = s.apply_json(b'[{"type":"t","key":"","headers":{"operation":"delete"}},'
                           b'{"type":"t","key":"k","value":2,"headers":{"operation":"insert"}}]',
                           malformed="skip")
    assert [e.field for e in skipped] == ["key"]
    assert s.get("t", "k") == 2
    with pytest.raises(StateError) as bad:
        s.apply_json("{}")
    assert bad.value.field == ""
    with pytest.raises(StateError) as ts:
        state.insert("t", "k", 1, timestamp="yesterday")
    assert ts.value.field == "headers.timestamp"
    with pytest.raises(StateError):
        state.insert("t", "", 1)
    with pytest.raises(StateError) as missing:
        state.validate({"type": "t", "key": "k", "headers": {"operation": "insert"}})
    assert missing.value.field == "value"
    with pytest.raises(ValueError):
        s.apply_json("[]", malformed="maybe")  # type: ignore[arg-type]


def test_callbacks_receive_every_change() -> None:
    s = state.MaterializedState()
    seen: List[state.Change] = []
    off = s.subscribe(seen.extend)
    s.apply(state.insert("p", "ann", {"on": True}))
    s.apply(state.update("p", "ann", {"on": False}))
    s.apply_batch([state.delete("p", "ann"), state.delete("p", "bob"), state.snapshot_start("9")])
    off()
    s.apply(state.insert("p", "x", 1))
    assert [(c.kind, c.key, c.value, c.previous) for c in seen] == [
        ("set", "ann", {"on": True}, None),
        ("set", "ann", {"on": False}, {"on": True}),
        ("delete", "ann", None, {"on": False}),
        ("delete", "bob", None, None),
        ("snapshot-start", None, None, None),
    ]
    assert seen[-1].offset == "9" and seen[0].operation == "insert"
    assert s.in_snapshot


@dataclasses.dataclass
class User:
    name: str
    age: int = 0


class Plain:
    def __init__(self, name: str, age: int = 0) -> None:
        self.name, self.age = name, age


def test_typed_entities_through_dataclasses_and_plain_classes() -> None:
    s = state.MaterializedState()
    s.apply(state.insert("user", "1", User("Ann", 30)))
    u = s.get("user", "1", User)
    assert u == User("Ann", 30)
    p = s.get("user", "1", Plain)
    assert p is not None and p.name == "Ann"
    assert s.get_all("user", User) == {"1": User("Ann", 30)}
    s.apply(state.insert("user", "2", {"nickname": "B"}))
    with pytest.raises(StateError) as info:
        s.get("user", "2", User)
    assert info.value.code == "DECODE_ERROR"


def test_typed_entities_through_pydantic_models() -> None:
    import pydantic  # installed by python/test.sh

    class Member(pydantic.BaseModel):
        name: str
        online: bool

    s = state.MaterializedState()
    s.apply(state.insert("member", "m1", Member(name="Ann", online=True)))
    m = s.get("member", "m1", Member)
    assert isinstance(m, Member) and m.online is True
    s.apply(state.insert("member", "m2", {"name": "Bob"}))
    with pytest.raises(StateError):
        s.get("member", "m2", Member)


def test_from_dict_restores_a_state() -> None:
    s = state.MaterializedState()
    s.apply(state.insert("flag", "dark", True))
    back = state.MaterializedState.from_dict(s.to_dict())
    assert back.get("flag", "dark") is True
    with pytest.raises(StateError) as info:
        state.MaterializedState.from_dict("[1]")
    assert info.value.code == "BAD_CHECKPOINT"


def test_type_guards() -> None:
    assert state.is_change_event(state.insert("t", "k", 1))
    assert state.is_control_event(state.reset())
    assert not state.is_change_event({"headers": {"control": "reset"}})


def test_events_written_here_are_read_by_the_npm_package(tmp_path: pathlib.Path) -> None:
    """Events built by these builders, applied by @durable-streams/state
    (tests/state/npm/check-core-events.mjs; python/test.sh installs it)."""
    import shutil
    import subprocess

    events = [
        state.insert("user", "u1", User("Ann", 30), txid="t1", timestamp="2025-01-15T10:30:00Z"),
        state.insert("user", "u2", {"name": "Bob"}, headers={"from": "py"}),
        state.upsert("room", "lobby",
                     {"big": 12345678901234, "nested": [1, "b", None, {"x": 1.5}]}),
        state.update("user", "u1", {"name": "Ann B."}, old_value={"name": "Ann"}),
        state.delete("user", "u2"),
        state.delete("user", "never-there"),
        state.snapshot_start("0_1"),
        state.insert("room", "ünï", {"text": "\u0000 \" \\ \n"}),
        state.snapshot_end("0_2"),
        state.insert("gone", "g", 1),
        state.reset("0_3"),
        state.insert("room", "after-reset", True),
    ]
    s = state.MaterializedState()
    s.apply_batch(events)
    out = tmp_path / "python-events.json"
    out.write_text(json.dumps({"events": events, "state": s.to_dict()}))
    node = shutil.which("node")
    assert node, "node is needed for the npm agreement check"
    npm_dir = FIXTURES.parent / "npm"
    r = subprocess.run([node, "check-core-events.mjs", str(out)], cwd=npm_dir,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout

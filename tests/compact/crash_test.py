#!/usr/bin/env python3
"""State compaction under crashes: a snapshot is complete or absent, never partial.

Runs the real server (a build with the `fault-points` feature, passed as --bin) with
--state-compaction on a file-engine data directory holding a large State Protocol stream,
crashes it during a compaction, restarts it the way an operator would, and checks the
stream's snapshot: either the stream names none (and the snapshot URL answers 404), or the
snapshot it names holds exactly the expected state, framed by snapshot-start/snapshot-end.

Cases:
- before-publish: abort (fault point) after the state is built, before it is stored.
- after-publish: abort just after the snapshot's record is durable.
- torn-publish: like after-publish, then the log's last record (the snapshot) is cut short,
  as a power cut in the middle of writing it would leave it.
- kill9: `kill -9` at random moments while compacting (several rounds).
Each case ends with a compaction after the restart, which must succeed.

Usage: tests/compact/crash_test.py --bin target/debug/durastream-faults [CASE...]
Prints one line per case and `N passed, N failed` last.
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "faults"))
from fault_test import STARTED, Server, request  # noqa: E402

STREAM = "/v1/stream/state/big"
EVENTS = 120_000
KEYS = 5_000
BATCH = 4_000
COMPACTION = ["--state-compaction", "--wal-segment-bytes", str(1 << 30)]


def events():
    """The stream's events and the state they materialize ({(type, key): value})."""
    out, state = [], {}
    for i in range(EVENTS):
        key = str(i % KEYS)
        if i % 11 == 10:
            out.append({"type": "user", "key": key, "headers": {"operation": "delete"}})
            state.pop(("user", key), None)
        else:
            value = {"i": i, "pad": "x" * 60}
            op = "insert" if i < KEYS else "update"
            out.append({"type": "user", "key": key, "value": value, "headers": {"operation": op}})
            state[("user", key)] = value
    return out, state


def load(port, evs):
    status, _, body = request(port, "PUT", STREAM, headers={"Content-Type": "application/json"})
    assert status == 201, (status, body)
    for i in range(0, len(evs), BATCH):
        body = json.dumps(evs[i : i + BATCH]).encode()
        status, _, _ = request(port, "POST", STREAM, body, {"Content-Type": "application/json"}, timeout=60)
        assert status in (200, 204), status


def read_all(port, path):
    items, offset = [], "-1"
    while True:
        status, headers, body = request(port, "GET", f"{path}?offset={offset}", timeout=60)
        assert status == 200, (path, status, body[:200])
        items.extend(json.loads(body))
        offset = headers["stream-next-offset"]
        if "stream-up-to-date" in headers:
            return items


def check_snapshot(port, expected):
    """'absent' or 'complete'; raises when the snapshot is partial or wrong."""
    status, headers, _ = request(port, "HEAD", STREAM)
    assert status == 200, status
    tail = headers["stream-next-offset"]
    path = headers.get("stream-snapshot")
    if path is None:
        # Nothing may be stored under the snapshot URL either.
        rel = urllib.parse.quote(STREAM[len("/v1/stream/") :])
        status, _, _ = request(port, "GET", f"/v1/stream/__ds/snapshots/{rel}/{tail}?offset=-1")
        assert status == 404, f"no snapshot named, but one is stored ({status})"
        return "absent"
    assert headers.get("stream-snapshot-offset") == tail, "snapshot must cover the whole stream"
    items = read_all(port, path)
    assert items[0]["headers"]["control"] == "snapshot-start", items[0]
    assert items[-1]["headers"]["control"] == "snapshot-end", items[-1]
    got = {(e["type"], e["key"]): e["value"] for e in items[1:-1]}
    assert len(got) == len(items) - 2, "a key appears twice"
    assert got == expected, f"snapshot state differs: {len(got)} entities, expected {len(expected)}"
    return "complete"


def compact(port, timeout=120):
    return request(port, "POST", "/v1/stream/__ds/compact/state/big", timeout=timeout)


def crash_case(binary, tmp, failpoint, damage=None):
    data = os.path.join(tmp, "data")
    server = Server(binary, data, extra=COMPACTION)
    server.start()
    evs, expected = events()
    load(server.port, evs)
    server.term()
    server.start(env={"FAILPOINTS": f"{failpoint}=return"})
    try:
        compact(server.port)
        raise AssertionError("the server answered instead of crashing")
    except OSError:
        pass
    assert server.wait_exit(30), "server did not crash"
    if damage:
        damage(data)
    server.start()
    outcome = check_snapshot(server.port, expected)
    status, _, body = compact(server.port)
    assert status in (200, 201), (status, body)
    assert check_snapshot(server.port, expected) == "complete"
    server.term()
    return outcome


def cut_last_record(data_dir):
    wal = os.path.join(data_dir, "wal")
    last = os.path.join(wal, sorted(os.listdir(wal))[-1])
    size = os.path.getsize(last)
    with open(last, "r+b") as f:
        f.truncate(size - 1000)


def case_before_publish(binary, tmp):
    assert crash_case(binary, tmp, "compact-before-publish") == "absent"


def case_after_publish(binary, tmp):
    assert crash_case(binary, tmp, "compact-after-publish") == "complete"


def case_torn_publish(binary, tmp):
    assert crash_case(binary, tmp, "compact-after-publish", damage=cut_last_record) == "absent"


def case_kill9(binary, tmp):
    data = os.path.join(tmp, "data")
    server = Server(binary, data, extra=COMPACTION)
    server.start()
    evs, expected = events()
    load(server.port, evs)
    # How long one compaction takes here, to spread the kills over it.
    started = time.time()
    status, _, _ = compact(server.port)
    assert status == 201, status
    took = time.time() - started
    server.term()
    shutil.rmtree(data)
    server.start()
    load(server.port, evs)
    seen = {"absent": 0, "complete": 0}
    rng = random.Random(16)
    for round in range(6):
        t = threading.Thread(target=lambda: _swallow(compact, server.port), daemon=True)
        t.start()
        # Even rounds anywhere in the compaction, odd ones near its end (the publish).
        time.sleep(took * (rng.uniform(0, 1) if round % 2 == 0 else rng.uniform(0.85, 1.3)))
        server.kill9()
        t.join(timeout=30)
        server.start()
        outcome = check_snapshot(server.port, expected)
        seen[outcome] += 1
        if outcome == "complete":
            # Start the next round without a snapshot covering the tail: append one event.
            ev = {"type": "user", "key": "extra", "value": {"n": rng.random()}, "headers": {"operation": "upsert"}}
            status, _, _ = request(server.port, "POST", STREAM, json.dumps(ev).encode(), {"Content-Type": "application/json"})
            assert status in (200, 204), status
            expected[("user", "extra")] = ev["value"]
    status, _, body = compact(server.port)
    assert status in (200, 201), (status, body)
    assert check_snapshot(server.port, expected) == "complete"
    server.term()
    print(f"    kill -9 outcomes: {seen} (compaction took {took:.2f} s)")


def _swallow(f, *args):
    try:
        f(*args)
    except OSError:
        pass


CASES = {
    "before-publish": case_before_publish,
    "after-publish": case_after_publish,
    "torn-publish": case_torn_publish,
    "kill9": case_kill9,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    passed = failed = 0
    for name in args.cases or list(CASES):
        tmp = tempfile.mkdtemp(prefix="ds-compact-crash-")
        started = time.time()
        try:
            CASES[name](args.bin, tmp)
            passed += 1
            print(f"PASS {name} ({time.time() - started:.1f} s)")
        except Exception as e:  # noqa: BLE001 - reported, then the next case runs
            failed += 1
            print(f"FAIL {name}: {e!r}")
        finally:
            for p in STARTED:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            STARTED.clear()
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

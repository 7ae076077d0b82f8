#!/usr/bin/env python3
"""State Protocol benchmark for the Python package: materializing 1,000,000 change events
(100-byte values, 10,000 keys, every 100th a delete) fed as JSON chunks of 1,000 events,
as node/bench/state.mjs does for Node and @durable-streams/state (compare in the same
run); then live latency: an event appended through the idempotent producer -> visible in a
StateFollower's state, p50/p99.

    python bench/state.py [EVENTS]       (wrap in `flock /work/bench.lock`)
"""

import resource
import sys
import time

import durastream
from durastream import state

KEYS = 10_000
CHUNK = 1_000


def chunk(start: int, n: int) -> bytes:
    parts = []
    for i in range(start, start + n):
        key = i % KEYS
        if i >= KEYS and i % 100 == 0:
            parts.append(f'{{"type":"row","key":"k{key}","headers":{{"operation":"delete"}}}}')
            continue
        op = "insert" if i < KEYS else "update"
        head = f'{{"n":{i},"s":"'
        pad = "x" * (100 - len(head) - 2)
        parts.append(f'{{"type":"row","key":"k{key}","value":{head}{pad}"}},'
                     f'"headers":{{"operation":"{op}"}}}}')
    return ("[" + ",".join(parts) + "]").encode()


def materialize(events: int) -> None:
    s = state.MaterializedState()
    busy = 0.0
    for start in range(0, events, CHUNK):
        data = chunk(start, min(CHUNK, events - start))
        t = time.perf_counter()
        s.apply_json(data)
        busy += time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"python apply_json: {events} events in {busy:.3f} s: {events / busy:.0f} events/s, "
          f"{s.size('row')} keys, peak RSS {rss} MiB")


def live(n: int) -> None:
    with durastream.Server() as server:
        s = durastream.DurableStream.create(server.stream_url("live"),
                                            content_type="application/json")
        with s.producer("bench", linger_ms=0) as p, state.StateFollower(s, live="sse") as f:
            f.wait_consistent()
            lat = []
            for i in range(n):
                t = time.perf_counter()
                p.append(state.upsert("row", f"k{i % 100}", {"i": i}))
                while (f.state.get("row", f"k{i % 100}") or {}).get("i") != i:
                    f.next()
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            print(f"python live: append -> visible in a follower's state (SSE), {n} events: "
                  f"p50 {lat[n // 2]:.2f} ms, p99 {lat[int(n * 0.99)]:.2f} ms")


if __name__ == "__main__":
    materialize(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    live(500)

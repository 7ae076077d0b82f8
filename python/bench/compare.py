"""Compares this package with the pure-Python ``durable-streams`` client and with raw
``httpx`` doing the same work, in one run against one server.

    pip install ./python durable-streams httpx
    python python/bench/compare.py [--messages 200000] [--produce 20000] [--rounds 200]
                                   [--read-rounds 7] [--only producer,catch-up,live]

The server is `durastream serve --memory` in its own process (``$DURASTREAM_BIN`` if set,
else this package's console script), so no client shares a process with it. Scenarios:

- producer: small JSON messages appended one by one, then flushed (throughput).
  durastream uses its IdempotentProducer; durable-streams its own best path (concurrent
  ``append`` calls, which it batches); raw httpx POSTs JSON arrays of 1000 messages.
- catch-up: every message of a stream of small JSON messages, by ``iter_json`` and by
  ``read_json`` (throughput); raw httpx GETs the same responses and ``json.loads`` them.
  The readers run in interleaved rounds (load from elsewhere hits them alike); best kept.
- live: a writer appends a timestamped message, a long-poll reader in another thread
  receives it (latency from before the append to delivery; median and p99).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Tuple

import httpx

import durastream

MESSAGE = {"type": "token", "text": "hello", "n": 0}
Rows = List[Tuple[str, str, str]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> Tuple[subprocess.Popen, str]:
    port = free_port()
    binary = os.environ.get("DURASTREAM_BIN") or shutil.which("durastream")
    cmd = [binary] if binary else [sys.executable, "-m", "durastream.cli"]
    proc = subprocess.Popen(cmd + ["serve", "--memory", "--bind", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/v1/stream"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def new_stream(base: str) -> str:
    url = f"{base}/bench-{uuid.uuid4().hex}"
    durastream.DurableStream.create(url, content_type="application/json")
    return url


def message(i: int) -> Dict[str, Any]:
    return {**MESSAGE, "n": i}


def count(url: str) -> int:
    return len(durastream.stream(url, live=False).read_json())


# ---------------------------------------------------------------- producer


def produce_durastream(url: str, n: int) -> None:
    with durastream.DurableStream(url, content_type="application/json").producer("bench") as p:
        for i in range(n):
            p.append(message(i))


def produce_pypi(url: str, n: int) -> None:
    from durable_streams import AsyncDurableStream

    async def main() -> None:
        h = AsyncDurableStream(url, content_type="application/json")
        await asyncio.gather(*(h.append(message(i)) for i in range(n)))
        await h.aclose()

    asyncio.run(main())


def produce_pypi_sync(url: str, n: int) -> None:
    from durable_streams import DurableStream

    h = DurableStream(url, content_type="application/json")
    for i in range(n):
        h.append(message(i))
    h.close()


def produce_httpx(url: str, n: int) -> None:
    with httpx.Client() as c:
        batch: List[bytes] = []
        for i in range(n):
            batch.append(json.dumps(message(i)).encode())
            if len(batch) == 1000 or i == n - 1:
                r = c.post(url, content=b"[" + b",".join(batch) + b"]",
                           headers={"content-type": "application/json"})
                r.raise_for_status()
                batch = []


# ---------------------------------------------------------------- catch-up


def fill(url: str, n: int) -> None:
    produce_httpx(url, n)


def read_durastream(url: str) -> int:
    k = 0
    for _ in durastream.stream(url, live=False).iter_json():
        k += 1
    return k


def read_json_durastream(url: str) -> int:
    return len(durastream.stream(url, live=False).read_json())


def read_pypi(url: str) -> int:
    from durable_streams import stream

    k = 0
    with stream(url, live=False) as res:
        for _ in res.iter_json():
            k += 1
    return k


def read_json_pypi(url: str) -> int:
    from durable_streams import stream

    # Its read_json() with live=False stops after the first response (0.1.0), so the
    # whole stream is collected from iter_json() instead.
    with stream(url, live=False) as res:
        return len(list(res.iter_json()))


def read_httpx(url: str) -> int:
    k = 0
    offset = "-1"
    with httpx.Client() as c:
        while True:
            r = c.get(url, params={"offset": offset})
            r.raise_for_status()
            for _ in json.loads(r.content):
                k += 1
            offset = r.headers["stream-next-offset"]
            if r.headers.get("stream-up-to-date") == "true":
                return k


# ---------------------------------------------------------------- live


def live_latency(base: str, rounds: int, reader: Callable[[str, str, Callable[[], bool],
                                                               List[float]], None]) -> List[float]:
    url = new_stream(base)
    tail = durastream.DurableStream(url).head().offset
    got: List[float] = []
    stop = threading.Event()
    t = threading.Thread(target=reader, args=(url, tail, stop.is_set, got), daemon=True)
    t.start()
    time.sleep(0.3)
    latencies: List[float] = []
    with httpx.Client() as writer:
        for i in range(rounds):
            before = len(got)
            sent = time.perf_counter()
            writer.post(url, content=json.dumps([{"t": sent}]).encode(),
                        headers={"content-type": "application/json"})
            deadline = time.monotonic() + 5
            while len(got) == before and time.monotonic() < deadline:
                time.sleep(0)
            if len(got) > before:
                latencies.append(got[-1] - sent)
            time.sleep(0.002)
    stop.set()
    writer2 = httpx.post(url, headers={"content-type": "application/json",
                                       "stream-closed": "true"})
    writer2.raise_for_status()
    t.join(5)
    return latencies


def live_durastream(mode: str) -> Callable[[str, str, Callable[[], bool], List[float]], None]:
    def reader(url: str, offset: str, stopped: Callable[[], bool], got: List[float]) -> None:
        with durastream.stream(url, offset=offset, live=mode) as res:  # type: ignore[arg-type]
            for item in res.iter_json():
                got.append(time.perf_counter())
                if stopped():
                    return

    return reader


def live_pypi(url: str, offset: str, stopped: Callable[[], bool], got: List[float]) -> None:
    from durable_streams import stream

    with stream(url, offset=offset, live="long-poll") as res:
        for _ in res.iter_json():
            got.append(time.perf_counter())
            if stopped():
                return


def live_httpx(url: str, offset: str, stopped: Callable[[], bool], got: List[float]) -> None:
    with httpx.Client(timeout=60) as c:
        while not stopped():
            r = c.get(url, params={"offset": offset, "live": "long-poll"})
            if r.status_code == 200:
                for _ in json.loads(r.content):
                    got.append(time.perf_counter())
            offset = r.headers.get("stream-next-offset", offset)
            if r.headers.get("stream-closed") == "true":
                return


# ---------------------------------------------------------------- main


def best_of(runs: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_producer(base: str, args: argparse.Namespace, rows: Rows) -> None:
    """Producer throughput rows."""
    n = args.produce
    producers = [("durastream IdempotentProducer", produce_durastream),
                 ("durable-streams (async, batched appends)", produce_pypi),
                 ("raw httpx (1000-message POSTs)", produce_httpx)]
    rates: Dict[str, float] = {}
    for name, fn in producers:
        urls: List[str] = []

        def once(fn: Callable[[str, int], None] = fn) -> None:
            urls.append(new_stream(base))
            fn(urls[-1], n)

        secs = best_of(args.runs, once)
        assert count(urls[-1]) == n, name
        rates[name] = n / secs
        rows.append(("producer", name, f"{n / secs:,.0f} msgs/s"))
    small = min(n, 1000)
    url = new_stream(base)
    secs = best_of(1, lambda: produce_pypi_sync(url, small))
    rows.append(("producer", "durable-streams (sync append, one POST each)",
                 f"{small / secs:,.0f} msgs/s"))
    ratio = rates["durastream IdempotentProducer"] / rates[
        "durable-streams (async, batched appends)"]
    rows.append(("producer", "**durastream / durable-streams**", f"**{ratio:.1f}×**"))


def bench_catch_up(base: str, args: argparse.Namespace, rows: Rows) -> None:
    """Catch-up read throughput rows (readers interleaved)."""
    url = new_stream(base)
    fill(url, args.messages)
    size = len(durastream.stream(url, live=False).read_bytes())
    readers = [("durastream iter_json", read_durastream),
               ("durable-streams iter_json", read_pypi),
               ("durastream read_json", read_json_durastream),
               ("durable-streams read_json", read_json_pypi),
               ("raw httpx + json.loads", read_httpx)]
    for name, rfn in readers:
        assert rfn(url) == args.messages, name
    # Rounds interleave the readers, so load from elsewhere hits them alike; best kept.
    best: Dict[str, float] = {}
    for _ in range(args.read_rounds):
        for name, rfn in readers:
            secs = best_of(1, lambda rfn=rfn: rfn(url))
            best[name] = min(best.get(name, secs), secs)
    read_rates: Dict[str, float] = {}
    for name, _ in readers:
        secs = best[name]
        read_rates[name] = args.messages / secs
        rows.append(("catch-up", name,
                     f"{args.messages / secs:,.0f} msgs/s ({size / secs / 1e6:,.0f} MB/s)"))
    for shape in ("iter_json", "read_json"):
        ratio = read_rates[f"durastream {shape}"] / read_rates[f"durable-streams {shape}"]
        rows.append(("catch-up", f"**durastream / durable-streams ({shape})**",
                     f"**{ratio:.2f}×**"))
    ratio = read_rates["durastream iter_json"] / read_rates["raw httpx + json.loads"]
    rows.append(("catch-up", "**durastream iter_json / raw httpx**", f"**{ratio:.2f}×**"))


def bench_live(base: str, args: argparse.Namespace, rows: Rows) -> None:
    """Live delivery latency rows."""
    lives = [("durastream long-poll", live_durastream("long-poll")),
             ("durastream SSE", live_durastream("sse")),
             ("durable-streams long-poll", live_pypi),
             ("raw httpx long-poll", live_httpx)]
    medians: Dict[str, float] = {}
    for name, lfn in lives:
        lat = sorted(live_latency(base, args.rounds, lfn))
        med = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        medians[name] = med
        rows.append(("live", name, f"median {med:.3f} ms, p99 {p99:.3f} ms "
                                   f"({len(lat)}/{args.rounds} delivered)"))
    diff = medians["durastream long-poll"] - medians["raw httpx long-poll"]
    rows.append(("live", "**durastream − raw httpx (median)**", f"**{diff:+.3f} ms**"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200_000, help="catch-up stream size")
    ap.add_argument("--produce", type=int, default=20_000, help="messages per producer run")
    ap.add_argument("--rounds", type=int, default=200, help="live round trips")
    ap.add_argument("--runs", type=int, default=3, help="runs per producer scenario")
    ap.add_argument("--read-rounds", type=int, default=7,
                    help="interleaved rounds of the catch-up readers (best kept)")
    ap.add_argument("--only", default="producer,catch-up,live",
                    help="comma-separated scenarios to run")
    args = ap.parse_args()
    proc, base = start_server()
    rows: Rows = []
    try:
        only = args.only.split(",")
        if "producer" in only:
            bench_producer(base, args, rows)
        if "catch-up" in only:
            bench_catch_up(base, args, rows)
        if "live" in only:
            bench_live(base, args, rows)
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"\n{args.messages} catch-up messages, {args.produce} produced, "
          f"{args.rounds} live round trips; {os.cpu_count()} CPUs\n")
    print("| scenario | client | result |")
    print("|---|---|---|")
    for scenario, name, result in rows:
        print(f"| {scenario} | {name} | {result} |")


if __name__ == "__main__":
    main()

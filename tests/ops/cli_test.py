#!/usr/bin/env python3
"""The command-line client as a person uses it, against the real binary: `ls` (pages, prefix,
JSON), `tail` (from the beginning, from now, pretty JSON), `append --file` of a large file
and `read --output` (byte for byte, with a progress bar on a terminal), shell completions,
and error messages that say what to do.

Usage: tests/ops/cli_test.py [path/to/durastream]   (default: target/debug/durastream)
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "durastream")
passes, failures = [], []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    (passes if ok else failures).append(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: str, *flags: str) -> tuple:
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--memory", "--bind", f"127.0.0.1:{port}", *flags],
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/v1/stream"


def ds(url: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = dict(os.environ, DURASTREAM_URL=url)
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, env=env, timeout=120)


def on_terminal(url: str, *args: str) -> tuple:
    """Runs the CLI with stdout and stderr on a pseudo-terminal; returns (status, screen)."""
    env = dict(os.environ, DURASTREAM_URL=url, COLUMNS="100")
    main, sub = pty.openpty()
    proc = subprocess.Popen([BIN, *args], stdin=subprocess.DEVNULL, stdout=sub, stderr=sub, env=env)
    os.close(sub)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(main)
    return proc.wait(timeout=60), out.decode("utf-8", "replace")


def main() -> int:
    # Scratch space in the cargo target dir (ignored by git), wherever it is.
    scratch = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    os.makedirs(scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        plain, plain_url = start(tmp)
        metrics_port = free_port()
        admin, url = start(tmp, "--admin-api", "--metrics-bind", f"127.0.0.1:{metrics_port}")
        try:
            run(tmp, url, plain_url, metrics_port)
        finally:
            for p in (plain, admin):
                p.terminate()
                p.wait(timeout=20)
    print(f"{len(passes)} passed, {len(failures)} failed")
    return 1 if failures else 0


def conflicts(metrics_port: int) -> int:
    """POSTs the server answered 409 so far."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    return sum(int(float(line.split()[-1])) for line in text.splitlines()
               if line.startswith('durastream_http_requests_total{method="POST"')
               and 'status="409"' in line)


def run(tmp: str, url: str, plain_url: str, metrics_port: int) -> None:
    # Completions.
    bash = ds(url, "completions", "bash").stdout.decode()
    check("_durastream()" in bash and "tail" in bash and "--metrics-bind" in bash,
          "completions bash covers the commands and flags")
    check(all(ds(url, "completions", sh).returncode == 0 for sh in ["zsh", "fish"]),
          "completions zsh and fish")

    # ls.
    r = ds(plain_url, "ls")
    check(r.returncode == 1 and b"--admin-api" in r.stderr,
          "ls on a server without listing says how to enable it")
    for name in ["chat/a", "chat/b", "chat/c", "jobs/1", "jobs/2"]:
        ds(url, "create", name, "-t", "application/json")
    r = ds(url, "ls")
    check(r.stdout.decode().split() == ["chat/a", "chat/b", "chat/c", "jobs/1", "jobs/2"],
          "ls lists every path when piped")
    r = ds(url, "ls", "--limit", "2")
    check(r.stdout.decode().split() == ["chat/a", "chat/b"]
          and b'durastream ls --after "chat/b"' in r.stderr, "ls pages, with the next command")
    r = ds(url, "ls", "--limit", "2", "--after", "chat/b")
    check(r.stdout.decode().split() == ["chat/c", "jobs/1"], "ls --after continues")
    r = ds(url, "ls", "--limit", "2", "--all")
    check(len(r.stdout.decode().split()) == 5 and not r.stderr, "ls --all follows every page")
    r = ds(url, "ls", "jobs/")
    check(r.stdout.decode().split() == ["jobs/1", "jobs/2"], "ls PREFIX filters")
    rows = [json.loads(line) for line in ds(url, "ls", "--json", "chat/a").stdout.splitlines()]
    check(rows and rows[0]["content_type"] == "application/json" and rows[0]["bytes"] == 0,
          "ls --json prints the metadata")
    status, screen = on_terminal(url, "ls")
    check(status == 0 and "PATH" in screen and "CONTENT TYPE" in screen, "ls prints a table on a terminal")

    # tail.
    ds(url, "append", "chat/a", "--json", '{"b":1,"a":"first"}')
    ds(url, "append", "chat/a", "--json", '{"n":2}')
    ds(url, "close", "chat/a", "--data", '{"n":3}')
    r = ds(url, "tail", "chat/a", "--from", "-1")
    check(r.returncode == 0 and r.stdout.decode().splitlines()
          == ['{"b":1,"a":"first"}', '{"n":2}', '{"n":3}'] and b"stream closed" in r.stderr,
          "tail --from -1 prints every message and ends at the close")
    r = ds(url, "tail", "chat/a", "--from", "-1", "--json")
    check(r.stdout.decode().startswith('{\n  "b": 1,\n  "a": "first"\n}\n\n'),
          "tail --json pretty-prints, keys in order")
    env = dict(os.environ, DURASTREAM_URL=url)
    follower = subprocess.Popen([BIN, "tail", "chat/b"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)
    time.sleep(0.5)
    ds(url, "append", "chat/b", "--json", '{"live":true}')
    ready, _, _ = select.select([follower.stdout], [], [], 5)
    line = follower.stdout.readline().decode().strip() if ready else ""
    follower.terminate()
    follower.wait()
    check(line == '{"live":true}', "tail (from now) shows a new message as it arrives")

    # append --file and read --output, byte for byte.
    big = os.path.join(tmp, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(24 * 1024 * 1024))
    ds(url, "create", "files/big")
    status, screen = on_terminal(url, "append", "files/big", "--file", big)
    check(status == 0 and "uploading [" in screen and "MiB" in screen,
          "append --file draws a progress bar on a terminal")
    copy = os.path.join(tmp, "copy.bin")
    r = ds(url, "read", "files/big", "--output", copy)
    digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: E731
    check(r.returncode == 0 and digest(copy) == digest(big), "read --output copies 24 MiB exactly")
    rows = [json.loads(line) for line in ds(url, "ls", "--json", "files/").stdout.splitlines()]
    check(rows[0]["bytes"] == 24 * 1024 * 1024 and rows[0]["producers"] == 1,
          "the upload went through one idempotent producer")
    check(conflicts(metrics_port) == 0, "no batch of the upload was refused and re-sent")
    nd = os.path.join(tmp, "events.ndjson")
    with open(nd, "w") as f:
        for i in range(20000):
            f.write(json.dumps({"i": i, "pad": "x" * 40}) + "\n")
    ds(url, "create", "files/events", "-t", "application/json")
    r = ds(url, "append", "files/events", "--file", nd)
    lines = ds(url, "read", "files/events").stdout.decode().splitlines()
    check(r.returncode == 0 and len(lines) == 20000 and json.loads(lines[-1])["i"] == 19999,
          "append --file of NDJSON appends one message per value, in order")
    bad = os.path.join(tmp, "bad.ndjson")
    open(bad, "w").write('{"ok":1}\n{broken\n')
    r = ds(url, "append", "files/events", "--file", bad)
    check(r.returncode == 1 and b"invalid JSON" in r.stderr, "append --file reports invalid JSON")

    # Errors that say what to do.
    r = ds(url, "append", "nope", "data")
    check(r.returncode == 1 and b"hint:" in r.stderr and b"durastream create" in r.stderr,
          "a missing stream suggests creating it")
    r = ds(url, "append", "chat/a", "--json", "{}")
    check(b"closed" in r.stderr and b"durastream fork" in r.stderr,
          "appending to a closed stream suggests a fork")
    r = ds(f"http://127.0.0.1:{free_port()}/v1/stream", "head", "x")
    check(r.returncode == 1 and b"durastream serve" in r.stderr,
          "an unreachable server is explained")


if __name__ == "__main__":
    sys.exit(main())

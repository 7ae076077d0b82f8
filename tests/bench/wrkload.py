"""Throughput scenarios driven by wrk (HTTP/1.1) and h2load (HTTP/2), and instructions per
append under callgrind.

wrk (Debian's package) is a C load generator that costs far less per request than the
servers it drives, so the servers, not the generator, set the figures; the ceiling row
(a bare HTTP server) shows how much headroom it has.
"""

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "/v1/stream"


# Debian package of each tool, where its name differs.
PACKAGES = {"h2load": "nghttp2-client"}


def ensure_tools(*names):
    """Installs wrk / h2load / valgrind / openssl from Debian's packages when missing."""
    missing = [PACKAGES.get(n, n) for n in names if shutil.which(n) is None]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=subprocess.DEVNULL)


def request(port, method, path, body=b"", headers=None, timeout=30, tls=False):
    if tls:
        # The benchmark's own throw-away certificate: nothing to verify it against.
        ctx = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def run_wrk(port, script, arg, connections, duration, threads=2, tls=False):
    scheme = "https" if tls else "http"
    # wrk takes whole seconds only ("-d5.0s" is refused).
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s",
           os.path.join(HERE, "wrk", script), f"{scheme}://127.0.0.1:{port}", "--", arg]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=duration + 60).stdout
    m = re.search(r"^JSON (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    return json.loads(m.group(1))


def create_streams(port, prefix, n=100, tls=False):
    for i in range(n):
        status, _ = request(port, "PUT", f"{prefix}{i}", headers={"Content-Type": "application/octet-stream"},
                            tls=tls)
        # 200/201 from a stream server; the ceiling answers every request with 204.
        if status not in (200, 201, 204):
            raise RuntimeError(f"create failed: HTTP {status}")


def append(port, pid, duration, run_id, create=True, tls=False):
    """64 connections appending 256 B bodies to 100 streams; returns metrics."""
    prefix = f"{PREFIX}/wrk-{run_id}-"
    if create:
        create_streams(port, prefix, tls=tls)
    cpu0 = cpu_seconds(pid) if pid else 0.0
    s = run_wrk(port, "append.lua", prefix, 64, duration, tls=tls)
    cpu = (cpu_seconds(pid) - cpu0) if pid else 0.0
    secs = s["duration_us"] / 1e6
    if s["status_errors"] or s["socket_errors"]:
        raise RuntimeError(f"append: {s['status_errors']} non-2xx answers, {s['socket_errors']} socket errors")
    out = {
        "appends/s": s["requests"] / secs,
        "latency p50": s["p50_us"] / 1000,
        "latency p99": s["p99_us"] / 1000,
    }
    if pid and s["requests"]:
        out["server cpu per op"] = cpu / s["requests"] * 1e6
    return out


def append_h2(port, pid, duration, run_id, tls=False, connections=4, streams_per_conn=16):
    """The append scenario over HTTP/2 with h2load (nghttp2's C generator): 256 B bodies to 100
    streams, `connections` x `streams_per_conn` requests in flight (64 by default, as with wrk).
    h2c (prior knowledge) on a plain listener, h2 chosen by ALPN over TLS."""
    prefix = f"{PREFIX}/h2-{run_id}-"
    create_streams(port, prefix, tls=tls)
    scheme = "https" if tls else "http"
    urls = [f"{scheme}://127.0.0.1:{port}{prefix}{i}" for i in range(100)]
    with tempfile.NamedTemporaryFile(prefix="ds-h2-body-") as body:
        body.write(b"x" * 256)
        body.flush()
        cpu0 = cpu_seconds(pid) if pid else 0.0
        cmd = ["h2load", f"-c{connections}", f"-m{streams_per_conn}", "-t2", f"-D{duration:g}",
               "-d", body.name, "-H", "content-type: application/octet-stream", *urls]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=duration + 60).stdout
        cpu = (cpu_seconds(pid) - cpu0) if pid else 0.0
    done = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    counts = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if not done or not counts:
        raise RuntimeError(f"h2load printed no summary:\n{out}")
    ok, failed, errored = (int(x) for x in counts.groups())
    if failed or errored:
        raise RuntimeError(f"h2load: {failed} failed and {errored} errored requests:\n{out}")
    res = {"appends/s": float(done.group(2))}
    if pid and ok:
        res["server cpu per op"] = cpu / ok * 1e6
    return res


def self_signed(dir_):
    """A throw-away certificate and key for 127.0.0.1 (openssl); returns their paths."""
    cert, key = os.path.join(dir_, "cert.pem"), os.path.join(dir_, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def catch_up(port, pid, duration, run_id, size_mb=10):
    """16 connections reading one 10 MiB stream from its start; MB/s and bytes per response."""
    path = f"{PREFIX}/wrk-read-{run_id}"
    status, _ = request(port, "PUT", path, headers={"Content-Type": "application/octet-stream"})
    if status not in (200, 201):
        raise RuntimeError(f"create failed: HTTP {status}")
    chunk = os.urandom(1 << 20)
    for _ in range(size_mb):
        status, _ = request(port, "POST", path, chunk, {"Content-Type": "application/octet-stream"})
        if status not in (200, 204):
            raise RuntimeError(f"append failed: HTTP {status}")
    s = run_wrk(port, "read.lua", path, 16, duration)
    if s["status_errors"] or s["socket_errors"]:
        raise RuntimeError(f"read: {s['status_errors']} non-2xx answers, {s['socket_errors']} socket errors")
    secs = s["duration_us"] / 1e6
    return {
        "throughput": s["bytes"] / secs / 1e6,
        "bytes per response": s["bytes"] / max(1, s["requests"]),
    }


def instructions_per_append(argv_of, appends=2000):
    """Instructions the server executes per append, from two callgrind runs (none and N).

    Instruction counts do not move with machine noise: the figure is stable from run to
    run for the same binary.
    """
    totals = []
    for n in (0, appends):
        tmp = tempfile.mkdtemp(prefix="ds-callgrind-")
        port = _free_port()
        launch = argv_of(port, os.path.join(tmp, "data"))
        argv, env = launch if isinstance(launch, tuple) else (launch, {})
        out = os.path.join(tmp, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
                                env=dict(os.environ, **env))
        try:
            _wait(port, proc, 120)
            path = f"{PREFIX}/cg"
            status, _ = request(port, "PUT", path, headers={"Content-Type": "application/octet-stream"})
            if status not in (200, 201, 204):
                raise RuntimeError(f"create failed under callgrind: HTTP {status}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            body = b"x" * 256
            for _ in range(n):
                conn.request("POST", path, body=body, headers={"Content-Type": "application/octet-stream"})
                r = conn.getresponse()
                r.read()
                if r.status not in (200, 204):
                    raise RuntimeError(f"append failed under callgrind: HTTP {r.status}")
            conn.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        total = 0
        for name in os.listdir(tmp):  # one file per process (and per thread, if split)
            if name.startswith("callgrind.out"):
                with open(os.path.join(tmp, name)) as f:
                    for line in f:
                        if line.startswith(("summary:", "totals:")):
                            total = max(total, int(line.split()[1]))
        shutil.rmtree(tmp, ignore_errors=True)
        totals.append(total)
    return (totals[1] - totals[0]) / appends


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port, proc, timeout):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")

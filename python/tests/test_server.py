"""The bundled server: in-process start and shutdown, durability, and the `durastream`
console script."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run

import durastream
from durastream import DurableStream


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_context_manager_and_urls() -> None:
    with durastream.Server() as srv:
        assert srv.running and srv.port > 0
        assert srv.url == f"http://127.0.0.1:{srv.port}"
        assert srv.prefix == "/v1/stream"
        assert srv.stream_url("/a") == srv.url + "/v1/stream/a"
        s = DurableStream.create(srv.stream_url("a"), content_type="text/plain")
        s.append("hi")
        assert s.stream(live=False).read_text() == "hi"
    assert not srv.running
    srv.shutdown()  # a second shutdown does nothing
    with pytest.raises(durastream.NetworkError):
        DurableStream(srv.stream_url("a"), retry=durastream.RetryOptions.none()).head()


def test_root_prefix_and_fixed_port() -> None:
    port = free_port()
    with durastream.Server(port=port, prefix="/") as srv:
        assert srv.port == port and srv.prefix == ""
        assert srv.stream_url("x") == f"http://127.0.0.1:{port}/x"
        DurableStream.create(srv.stream_url("x"))


def test_file_engine_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with durastream.Server(data_dir=data) as srv:
        url_path = "/v1/stream/durable"
        s = DurableStream.create(srv.url + url_path, content_type="application/json")
        s.append({"kept": True})
    with durastream.Server(data_dir=data) as srv2:
        assert durastream.stream(srv2.url + url_path, live=False).read_json() == [{"kept": True}]


def test_live_reads_end_at_shutdown() -> None:
    srv = durastream.Server(long_poll_timeout=30)
    s = DurableStream.create(srv.stream_url("live"), content_type="text/plain",
                             retry=durastream.RetryOptions.none())
    import threading

    outcome: list = []

    def read() -> None:
        try:
            outcome.append(s.stream(offset="now", live="long-poll").read_bytes())
        except durastream.DurableStreamError as e:
            outcome.append(e)

    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    srv.shutdown()
    t.join(10)
    assert not t.is_alive() and time.monotonic() - started < 5
    assert outcome


def test_async_context_manager() -> None:
    async def main() -> None:
        async with durastream.Server() as srv:
            s = await durastream.AsyncDurableStream.create(srv.stream_url("a"))
            await s.append(b"\x00\x01")
            assert await s.stream(live=False).read_bytes() == b"\x00\x01"
        assert not srv.running

    run(main())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        durastream.Server(host="not-an-ip")
    with pytest.raises(ValueError):
        durastream.Server(fsync="sometimes")
    with durastream.Server() as srv:
        with pytest.raises(OSError):
            durastream.Server(port=srv.port)


def cli(*args: str) -> list:
    return [sys.executable, "-m", "durastream.cli", *args]


def wait_for_line(stream: "object", needle: str, limit: int = 20) -> str:
    """Reads log lines until one contains ``needle`` (the server logs a few first)."""
    for _ in range(limit):
        line = stream.readline()  # type: ignore[attr-defined]
        if needle in line or not line:
            return str(line)
    return ""


def test_console_script_is_installed() -> None:
    from importlib.metadata import entry_points

    eps = entry_points()
    scripts = eps.select(group="console_scripts") if hasattr(eps, "select") else \
        eps.get("console_scripts", [])  # type: ignore[attr-defined]
    assert any(ep.name == "durastream" and ep.value == "durastream.cli:main" for ep in scripts)
    out = subprocess.run(cli("--version"), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"durastream {durastream.__version__}"


def test_serve_runs_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        cli("serve", "--bind", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "d"),
            "--prefix", "/", "--long-poll-timeout-ms", "500", "--test-faults",
            "--fsync", "interval"),
        stderr=subprocess.PIPE, text=True, env={**os.environ, "DURASTREAM_MEMORY": ""})
    try:
        assert proc.stderr is not None
        want = f"durastream listening on http://127.0.0.1:{port}/"
        assert want in wait_for_line(proc.stderr, want)
        url = f"http://127.0.0.1:{port}/cli-stream"
        s = DurableStream.create(url, content_type="text/plain")
        s.append("from the cli server")
        assert s.stream(live=False).read_text() == "from the cli server"
        assert (tmp_path / "d").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "shutting down" in err


def test_serve_memory_flag_and_env(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DURASTREAM_BIND": f"127.0.0.1:{port}", "DURASTREAM_MEMORY": "1"}
    proc = subprocess.Popen(cli("serve"), stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    try:
        assert proc.stderr is not None
        want = f"127.0.0.1:{port}/v1/stream/"
        assert want in wait_for_line(proc.stderr, want)
        DurableStream.create(f"http://127.0.0.1:{port}/v1/stream/m")
        assert not (tmp_path / "durastream-data").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_serve_usage_errors() -> None:
    out = subprocess.run(cli(), capture_output=True, text=True)
    assert out.returncode == 2 and "serve" in out.stderr
    bad = subprocess.run(cli("serve", "--bind", "nope"), capture_output=True, text=True)
    assert bad.returncode != 0 and "--bind" in bad.stderr


def test_whole_cli_runs_from_the_console_script() -> None:
    with durastream.Server() as srv:
        base = f"{srv.url}/v1/stream"
        create = subprocess.run(cli("--url", base, "create", "from-cli", "-t", "text/plain"),
                                capture_output=True, text=True)
        assert create.returncode == 0, create.stderr
        append = subprocess.run(cli("--url", base, "append", "from-cli", "hello from the cli"),
                                capture_output=True, text=True)
        assert append.returncode == 0, append.stderr
        read = subprocess.run(cli("--url", base, "read", "from-cli"), capture_output=True,
                              text=True)
        assert read.returncode == 0 and read.stdout == "hello from the cli"
        listing = subprocess.run(cli("--url", base, "ls"), capture_output=True, text=True)
        assert listing.returncode != 0 and "admin" in listing.stderr.lower() + listing.stdout


def test_access_control_in_process() -> None:
    tokens = "reader-token-0123456789 read /\nwriter-token-0123456789 write /\n"
    with durastream.Server(auth_tokens=tokens) as srv:
        url = srv.stream_url("guarded")
        writer = {"Authorization": "Bearer writer-token-0123456789"}
        reader = {"Authorization": "Bearer reader-token-0123456789"}
        stream = DurableStream.create(url, content_type="text/plain", headers=writer)
        stream.append("secret")
        assert DurableStream(url, headers=reader).stream(live=False).read_text() == "secret"
        with pytest.raises(durastream.DurableStreamError) as denied:
            DurableStream(url, headers=reader).append("not allowed")
        assert denied.value.status == 403
        with pytest.raises(durastream.DurableStreamError) as anonymous:
            DurableStream(url).stream(live=False).read_text()
        assert anonymous.value.status == 401
    with pytest.raises(ValueError):
        durastream.Server(auth_tokens="too-short read /")

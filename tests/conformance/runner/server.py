"""Starting and stopping this project's server (`durastream serve`) for a run."""

import collections
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

START_TIMEOUT_S = 15
SERVER_ARGS = ["serve", "--memory", "--test-faults", "--long-poll-timeout-ms", "500",
               "--prefix", "/"]


class ServerError(Exception):
    pass


def free_port():
    """A port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_binary(repo):
    """`$DURASTREAM_BIN`, else `$CARGO_TARGET_DIR` (or `<repo>/target`) `/debug/durastream`, built with cargo if missing."""
    configured = os.environ.get("DURASTREAM_BIN")
    if configured:
        if not Path(configured).is_file():
            raise ServerError(f"DURASTREAM_BIN={configured} does not exist")
        return Path(configured)
    binary = Path(os.environ.get("CARGO_TARGET_DIR") or Path(repo) / "target") / "debug" / "durastream"
    if not binary.is_file():
        build(repo)
    if not binary.is_file():
        raise ServerError(f"{binary} still missing after `cargo build -p durastream-server`")
    return binary


def build(repo):
    print("Building the server: cargo build -p durastream-server", file=sys.stderr, flush=True)
    try:
        completed = subprocess.run(["cargo", "build", "-p", "durastream-server"], cwd=repo,
                                   stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno())
    except OSError as error:
        raise ServerError(f"cannot run cargo: {error}") from error
    if completed.returncode != 0:
        raise ServerError(f"cargo build -p durastream-server failed ({completed.returncode})")


def die_with_parent():
    """Linux only: have the kernel send SIGTERM to the server if the runner dies abruptly."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Server:
    """A `durastream serve` child process on a free local port."""

    def __init__(self, binary, echo_output):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [str(binary), *SERVER_ARGS, "--bind", f"127.0.0.1:{self.port}"]
        self.echo_output = echo_output
        self.tail = collections.deque(maxlen=40)
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         env={**os.environ, "NO_COLOR": "1"},
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)
        except OSError as error:
            raise ServerError(f"cannot start {binary}: {error}") from error
        threading.Thread(target=self._read_output, daemon=True).start()

    def _read_output(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.tail.append(line)
            if self.echo_output:
                sys.stderr.write(f"[server] {line}\n")
                sys.stderr.flush()

    def wait_until_listening(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"server exited with code {self.proc.returncode} "
                                  f"before listening{self.output_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ServerError(f"server did not accept connections within {START_TIMEOUT_S}s"
                          f"{self.output_tail()}")

    def output_tail(self):
        time.sleep(0.1)  # let the reader thread catch the last lines
        if not self.tail:
            return ""
        return "\nLast server output:\n" + "\n".join(f"  {line}" for line in self.tail)

    def exit_problem(self):
        """A message if the server died during the run, else None."""
        if self.proc.poll() is None:
            return None
        return f"the server exited during the run with code {self.proc.returncode}" \
               f"{self.output_tail()}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(repo, echo_output):
    """Find (or build) the binary, start it and wait until it accepts connections."""
    server = Server(find_binary(repo), echo_output)
    try:
        server.wait_until_listening()
    except BaseException:
        server.stop()
        raise
    return server

"""The adapter process: JSON lines over stdin/stdout (ADAPTER_PROTOCOL.md section 1).

Like the official runner, there is a single "pending answer" slot: a stdout line that arrives
while a command is pending answers it; a line that arrives when none is pending, or after the
pending command's timeout, is discarded (and reported as stray output).
"""

import subprocess
import sys
import threading
import time

from .jsvalues import parse_json, stringify
from .errors import TestException


class AdapterExited(TestException):
    pass


class CommandTimeout(TestException):
    pass


class ResponseParseError(TestException):
    pass


class AdapterStartError(Exception):
    pass


class Pending:
    """One command awaiting its answer."""

    def __init__(self, command_type, timeout_ms):
        self.type = command_type
        self.timeout_ms = timeout_ms
        self.deadline = time.monotonic() + timeout_ms / 1000
        self.event = threading.Event()
        self.result = None
        self.error = None
        self._lock = threading.Lock()

    def settle(self, result=None, error=None):
        """Record the outcome; only the first settle counts (answer vs timeout race)."""
        with self._lock:
            if self.event.is_set():
                return
            self.result, self.error = result, error
            self.event.set()


def frame(command):
    """One command line: compact JSON, non-ASCII raw, U+2028/U+2029 escaped."""
    text = stringify(command)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def split_lines(raw):
    """Lines of one `\\n`-terminated chunk, splitting on CR too, as Node's readline does."""
    text = raw.decode("utf-8", errors="replace")
    text = text[:-1] if text.endswith("\n") else text
    text = text[:-1] if text.endswith("\r") else text
    return text.split("\r")


class Adapter:
    """One adapter process for the whole run."""

    def __init__(self, argv):
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as error:
            raise AdapterStartError(f"cannot start {argv[0]!r}: {error}") from error
        self.lock = threading.Lock()
        self.pending = None
        self.exit_message = None
        self.stray_lines = []
        self.reader = self._thread(self._read_stdout)
        self._thread(self._forward_stderr)
        self._thread(self._watch_exit)

    @staticmethod
    def _thread(target):
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            for line in split_lines(raw):
                self._on_line(line)

    def _on_line(self, line):
        with self.lock:
            pending = self.pending
            if pending is None or time.monotonic() > pending.deadline:
                self.stray_lines.append(line)
                return
            self.pending = None
        try:
            result = parse_json(line)
            if not isinstance(result, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            pending.settle(error=ResponseParseError(f"Failed to parse client response: {line}"))
        else:
            pending.settle(result=result)

    def _forward_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            sys.stderr.write(f"[client stderr] {line}\n")
            sys.stderr.flush()

    def _watch_exit(self):
        code = self.proc.wait()
        self.reader.join(timeout=2)  # deliver answers written just before exiting
        shown = code if code >= 0 else f"null (signal {-code})"
        with self.lock:
            self.exit_message = f"Client adapter exited with code {shown}"
            pending, self.pending = self.pending, None
        if pending is not None:
            pending.settle(error=AdapterExited(self.exit_message))

    def start(self, command, timeout_ms):
        """Send a command without waiting; the returned Pending is settled by its answer."""
        pending = Pending(command.get("type"), timeout_ms)
        with self.lock:
            if self.exit_message:
                raise AdapterExited(self.exit_message)
            self.pending = pending
        try:
            self.proc.stdin.write(frame(command).encode("utf-8"))
            self.proc.stdin.flush()
        except OSError:
            pending.event.wait(timeout=3)  # the exit watcher settles it if the process died
            with self.lock:
                if self.pending is pending:
                    self.pending = None
            raise AdapterExited(self.exit_message or "Client adapter closed its stdin")
        return pending

    def wait(self, pending):
        """The answer to `pending`, or the exception that ended it (timeout, exit, bad line)."""
        if not pending.event.wait(max(0.0, pending.deadline - time.monotonic())):
            with self.lock:
                if self.pending is pending:
                    self.pending = None
            message = f"Command timed out after {pending.timeout_ms}ms: {pending.type}"
            pending.settle(error=CommandTimeout(message))
        if pending.error:
            raise pending.error
        return pending.result

    def send(self, command, timeout_ms):
        return self.wait(self.start(command, timeout_ms))

    def take_stray_lines(self):
        with self.lock:
            lines, self.stray_lines = self.stray_lines, []
        return lines

    def close(self, send_shutdown):
        """Send `shutdown` (5 s, errors ignored) if asked, then terminate the process."""
        if send_shutdown:
            try:
                self.send({"type": "shutdown"}, 5000)
            except TestException:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass

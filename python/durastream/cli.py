"""The ``durastream`` console script: ``durastream serve`` with the flags (and
``DURASTREAM_*`` environment variables) of the Rust binary's ``serve`` command, running the
same server library in-process.

The Rust binary's client and bench commands are not part of the Python package; use the
Python API (or the Rust binary) for those.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any, Optional, Sequence, Tuple

from durastream import __version__

__all__ = ["main"]


def _env(name: str, default: Any) -> Any:
    return os.environ.get(name, default)


def _flag_env(name: str) -> bool:
    value = os.environ.get(name)
    return value is not None and value.lower() not in ("", "0", "false", "no", "off")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durastream", description="Durable Streams server (Python package edition)"
    )
    parser.add_argument("--version", action="version", version=f"durastream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="Run the server.", description="Run the server.")
    serve.add_argument("--bind", default=_env("DURASTREAM_BIND", "127.0.0.1:4437"),
                       help="Address to listen on (host:port).")
    serve.add_argument("--data-dir", default=_env("DURASTREAM_DATA_DIR", "./durastream-data"),
                       help="Directory of the embedded file engine (created if missing).")
    serve.add_argument("--memory", action="store_true", default=_flag_env("DURASTREAM_MEMORY"),
                       help="Keep everything in memory instead (nothing survives a restart).")
    serve.add_argument("--prefix", default=_env("DURASTREAM_PREFIX", "/v1/stream"),
                       help='URL path under which streams live ("/" for the root).')
    serve.add_argument("--long-poll-timeout-ms", type=int,
                       default=int(_env("DURASTREAM_LONG_POLL_TIMEOUT_MS", 30_000)),
                       help="How long a long-poll read waits for data before answering 204.")
    serve.add_argument("--max-body-bytes", type=int,
                       default=int(_env("DURASTREAM_MAX_BODY_BYTES", 64 * 1024 * 1024)),
                       help="Largest request body accepted; larger ones get 413.")
    serve.add_argument("--max-read-bytes", type=int,
                       default=int(_env("DURASTREAM_MAX_READ_BYTES", 1024 * 1024)),
                       help="Largest catch-up response.")
    serve.add_argument("--fsync", choices=["always", "interval", "never"],
                       default=_env("DURASTREAM_FSYNC", "always"),
                       help="Durability policy of the write-ahead log.")
    serve.add_argument("--fsync-interval-ms", type=int,
                       default=int(_env("DURASTREAM_FSYNC_INTERVAL_MS", 100)),
                       help="Sync interval for --fsync interval.")
    serve.add_argument("--test-faults", action="store_true",
                       default=_flag_env("DURASTREAM_TEST_FAULTS"),
                       help="Enable the /_test/inject-error fault endpoint (tests only).")
    serve.add_argument("--webhooks", action="store_true",
                       default=_flag_env("DURASTREAM_WEBHOOKS"),
                       help="Enable webhook subscriptions (see the Rust binary's --help).")
    serve.add_argument("--allow-localhost-webhooks", action="store_true",
                       default=_flag_env("DURASTREAM_ALLOW_LOCALHOST_WEBHOOKS"),
                       help="Development only: accept http://localhost webhook URLs.")
    serve.add_argument("--public-url", default=_env("DURASTREAM_PUBLIC_URL", None),
                       help="Public base URL of this server.")
    return parser


def _split_bind(bind: str) -> Tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"durastream: --bind must be host:port (got {bind!r})")
    return host.strip("[]"), int(port)


def serve(args: argparse.Namespace) -> int:
    """Runs the server until SIGINT or SIGTERM, then shuts it down gracefully."""
    from durastream import _durastream

    host, port = _split_bind(args.bind)
    server = _durastream.Server.start(
        data_dir=None if args.memory else args.data_dir,
        host=host,
        port=port,
        prefix=args.prefix,
        long_poll_timeout_ms=args.long_poll_timeout_ms,
        test_faults=args.test_faults,
        max_body_bytes=args.max_body_bytes,
        max_read_bytes=args.max_read_bytes,
        fsync=args.fsync,
        fsync_interval_ms=args.fsync_interval_ms,
        webhooks=args.webhooks,
        allow_localhost_webhooks=args.allow_localhost_webhooks,
        public_url=args.public_url,
    ).wait()
    print(f"durastream listening on {server.url}{server.prefix}/", file=sys.stderr, flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(0.5):
        pass
    print("shutting down", file=sys.stderr, flush=True)
    server.shutdown().wait()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``durastream`` console script."""
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        return serve(args)
    except OSError as e:
        print(f"durastream: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

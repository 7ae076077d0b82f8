"""The ``durastream`` console script: the whole ``durastream`` command of the Rust binary
(``serve`` with every flag and ``DURASTREAM_*`` variable, the client commands ``create``,
``append``, ``read``, ``tail``, ``ls``, ``head``, ``close``, ``delete``, ``fork``, and
``bench`` and ``completions``), run by the same library inside this package's extension.
"""

from __future__ import annotations

import signal
import sys
from typing import Optional, Sequence

from durastream import _durastream

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command with ``argv`` (default: ``sys.argv[1:]``); returns its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Ctrl-C behaves as with the native binary: `serve` shuts down gracefully (the server
    # handles SIGINT), other commands stop. Python's own handler would turn it into a
    # KeyboardInterrupt after the command had already finished.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.stdout.flush()
    sys.stderr.flush()
    return int(_durastream.run_cli(["durastream", *args]))


if __name__ == "__main__":
    sys.exit(main())

"""The bundled server: the Rust durastream server running inside this process."""

from __future__ import annotations

import os
from typing import Optional, Union

from durastream import _durastream

__all__ = ["Server"]


class Server:
    """Starts a durastream server in this process (on a background thread pool), so tests
    run against a real server with nothing else installed.

    Args:
        data_dir: Directory of the durable file engine; ``None`` keeps everything in memory.
        port: TCP port; 0 picks a free one (see :attr:`url`).
        host: IP address to listen on.
        prefix: URL path under which streams live (``"/"`` for the root).
        long_poll_timeout: Seconds a long-poll read waits for data before answering 204.
        test_faults: Enable the ``/_test/inject-error`` fault endpoint (tests only).
        max_body_bytes: Largest request body accepted.
        max_read_bytes: Largest catch-up response body.
        fsync: ``"always"``, ``"interval"`` or ``"never"`` (file engine durability).
        auth_tokens: Turns access control on with static tokens, one
            ``"<token> read|write|admin <path>"`` per line (``--auth-token-file``'s format).
        auth_jwt_secret: Turns access control on with HS256 JWTs signed by this secret.
        auth_jwt_public_key_pem: Turns access control on with JWTs signed by this PEM key's
            private half (Ed25519, RSA or EC P-256).
        auth_jwt_jwks_url: Turns access control on with JWTs signed by this JWKS's keys.
        cors_origins: Browser origins allowed by CORS (``"*"`` or a comma-separated list).

    Use it as a context manager, or call :meth:`shutdown`::

        with durastream.Server() as server:
            stream = durastream.DurableStream.create(server.stream_url("chat"))
    """

    def __init__(
        self,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        prefix: str = "/v1/stream",
        long_poll_timeout: Optional[float] = None,
        test_faults: bool = False,
        max_body_bytes: Optional[int] = None,
        max_read_bytes: Optional[int] = None,
        fsync: str = "always",
        auth_tokens: Optional[str] = None,
        auth_jwt_secret: Optional[str] = None,
        auth_jwt_public_key_pem: Optional[str] = None,
        auth_jwt_jwks_url: Optional[str] = None,
        cors_origins: Optional[str] = None,
    ) -> None:
        self._s: _durastream.Server = _durastream.Server.start(
            data_dir=None if data_dir is None else os.fspath(data_dir),
            host=host,
            port=port,
            prefix=prefix,
            long_poll_timeout_ms=None if long_poll_timeout is None
            else int(long_poll_timeout * 1000),
            test_faults=test_faults,
            max_body_bytes=max_body_bytes,
            max_read_bytes=max_read_bytes,
            fsync=fsync,
            auth_tokens=auth_tokens,
            auth_jwt_secret=auth_jwt_secret,
            auth_jwt_public_key_pem=auth_jwt_public_key_pem,
            auth_jwt_jwks_url=auth_jwt_jwks_url,
            cors_origins=cors_origins,
        ).wait()

    @property
    def url(self) -> str:
        """The root URL, ``http://host:port``."""
        return self._s.url

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._s.port

    @property
    def prefix(self) -> str:
        """The URL path under which streams live (empty for the root)."""
        return self._s.prefix

    @property
    def running(self) -> bool:
        """True until :meth:`shutdown`."""
        return self._s.running

    def stream_url(self, name: str) -> str:
        """The URL of the stream called ``name``."""
        return f"{self._s.url}{self._s.prefix}/{name.lstrip('/')}"

    def shutdown(self) -> None:
        """Stops accepting, ends live reads, waits for requests in flight and flushes
        storage. A second call does nothing."""
        self._s.shutdown().wait()

    async def ashutdown(self) -> None:
        """Awaitable :meth:`shutdown`."""
        await self._s.shutdown()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ashutdown()

    def __repr__(self) -> str:
        return f"Server(url={self._s.url!r}, prefix={self._s.prefix!r})"

"""Shared fixtures: one bundled server (with the fault endpoint) per test session."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
import uuid
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest

import durastream

T = TypeVar("T")


@pytest.fixture(scope="session")
def server() -> Iterator[durastream.Server]:
    """The bundled server, in memory, with `/_test/inject-error` and 1 s long-polls."""
    with durastream.Server(test_faults=True, long_poll_timeout=1.0) as s:
        yield s


@pytest.fixture
def url(server: durastream.Server) -> str:
    """A fresh stream URL (the stream is not created)."""
    return server.stream_url(f"t-{uuid.uuid4().hex}")


@pytest.fixture
def inject(server: durastream.Server) -> Iterator[Callable[..., None]]:
    """`inject(stream_url, status=500, count=1, ...)` arms a server fault for that stream;
    all faults are cleared after the test."""

    def arm(stream_url: str, **fault: Any) -> None:
        body = {"path": urllib.parse.urlparse(stream_url).path, **fault}
        req = urllib.request.Request(
            server.url + "/_test/inject-error", data=json.dumps(body).encode(), method="POST",
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 200

    yield arm
    req = urllib.request.Request(server.url + "/_test/inject-error", method="DELETE")
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200


def run(coro: Awaitable[T]) -> T:
    """Runs a coroutine on a fresh event loop."""
    async def main() -> T:
        return await coro
    return asyncio.run(main())


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """A plain HTTP POST (outside the client under test); returns the status."""
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)

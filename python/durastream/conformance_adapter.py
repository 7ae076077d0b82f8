"""Client-conformance adapter for the durastream Python package.

Run as ``python -m durastream.conformance_adapter``. It speaks the adapter protocol of the
Durable Streams client-conformance runner (``ADAPTER_PROTOCOL.md``): one JSON command per
stdin line, exactly one JSON result per stdout line, in order. Every command becomes calls
on the public asyncio API; this module holds no protocol logic, only argument conversion,
the per-path handle and producer caches the protocol asks for, and the mapping of
exceptions to the protocol's error codes. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import durastream
from durastream import _durastream
from durastream.errors import DurableStreamError

__all__ = ["main", "Adapter"]

#: Protocol error code for each core error code (others: UNEXPECTED_STATUS).
_CODES = {
    "NOT_FOUND": "NOT_FOUND",
    "INVALID_OFFSET": "INVALID_OFFSET",
    "SEQUENCE_CONFLICT": "SEQUENCE_CONFLICT",
    "STREAM_CLOSED": "STREAM_CLOSED",
    "PARSE_ERROR": "PARSE_ERROR",
    "INVALID_ARGUMENT": "INVALID_ARGUMENT",
    "CONFLICT": "CONFLICT",
    "NETWORK_ERROR": "NETWORK_ERROR",
    "TIMEOUT": "TIMEOUT",
    "STALE_EPOCH": "STALE_EPOCH",
    "SEQUENCE_GAP": "SEQUENCE_GAP",
    "PRODUCER_CLOSED": "CLOSED",
}

Result = Dict[str, Any]


def ok(command: str, **fields: Any) -> Result:
    """A success result."""
    return {"type": command, "success": True, **fields}


def error(command: str, code: str, message: str, status: Optional[int] = None) -> Result:
    """An error result."""
    r: Result = {"type": "error", "success": False, "commandType": command,
                 "errorCode": code, "message": message}
    if status is not None:
        r["status"] = status
    return r


def _int(v: Any) -> Optional[int]:
    return None if v is None else int(v)


class _Dynamic:
    """Dynamic header/parameter definitions as callables, recording the values sent."""

    def __init__(self) -> None:
        self.headers: Dict[str, str] = {}
        self.params: Dict[str, str] = {}

    def make(self, kind: str, name: str, initial: Optional[str],
             record: Dict[str, str]) -> Callable[[], str]:
        record.pop(name, None)
        produce: Callable[[], str]
        if kind == "counter":
            n = [0]

            def produce() -> str:
                n[0] += 1
                return str(n[0])
        elif kind == "timestamp":
            def produce() -> str:
                return str(int(time.time() * 1000))
        elif kind == "token":
            value = initial or ""

            def produce() -> str:
                return value
        else:
            raise ValueError(f"unknown valueType {kind!r}")

        def evaluate() -> str:
            v = produce()
            record[name] = v
            return v

        return evaluate

    def report(self, result: Result) -> Result:
        if self.headers:
            result["headersSent"] = dict(self.headers)
        if self.params:
            result["paramsSent"] = dict(self.params)
        return result


class Adapter:
    """State kept between commands."""

    def __init__(self) -> None:
        self.client: Optional[durastream.Client] = None
        self.server_url = ""
        self.handles: Dict[str, durastream.AsyncDurableStream] = {}
        self.producers: Dict[Tuple[str, str, int], durastream.IdempotentProducer] = {}
        self.dynamic = _Dynamic()

    async def handle(self, cmd: Dict[str, Any]) -> Result:
        kind = str(cmd.get("type", ""))
        if kind == "init":
            return self.init(cmd)
        if kind == "shutdown":
            return ok("shutdown")
        if kind == "validate":
            return self.validate(cmd)
        if self.client is None:
            return error(kind, "INTERNAL_ERROR", "init has not been received")
        method = getattr(self, "cmd_" + kind.replace("-", "_"), None)
        if method is None:
            return error(kind, "NOT_SUPPORTED", f"unknown command {kind!r}")
        try:
            result: Result = await method(cmd)
            return result
        except DurableStreamError as e:
            return error(kind, _CODES.get(e.code, "UNEXPECTED_STATUS"), e.message, e.status)
        except ValueError as e:
            return error(kind, "INVALID_ARGUMENT", str(e))

    def init(self, cmd: Dict[str, Any]) -> Result:
        self.server_url = str(cmd.get("serverUrl", "")).rstrip("/")
        self.handles.clear()
        self.producers.clear()
        self.dynamic = _Dynamic()
        self.client = durastream.Client()
        return ok("init", clientName="durastream-python", clientVersion=durastream.__version__,
                  features={"sse": True, "longPoll": True, "auto": True, "streaming": True,
                            "batching": True, "dynamicHeaders": True, "retryOptions": True,
                            "strictZeroValidation": True, "batchItems": True})

    def stream(self, cmd: Dict[str, Any]) -> durastream.AsyncDurableStream:
        """The cached handle of the command's path, with its extra headers if any."""
        assert self.client is not None
        path = str(cmd.get("path", "/"))
        h = self.handles.get(path)
        if h is None:
            h = durastream.AsyncDurableStream(self.server_url + path, client=self.client)
            self.handles[path] = h
        headers = cmd.get("headers")
        if headers:
            extra: durastream.HeadersLike = {
                str(k): v if isinstance(v, str) else json.dumps(v) for k, v in headers.items()
            }
            return durastream.AsyncDurableStream(h.url, client=self.client, headers=extra,
                                                 content_type=h.content_type)
        return h

    async def cmd_create(self, cmd: Dict[str, Any]) -> Result:
        h = self.stream(cmd)
        data = cmd.get("data")
        r = await h.create_stream(
            content_type=cmd.get("contentType") or "application/octet-stream",
            ttl_seconds=_int(cmd.get("ttlSeconds")),
            expires_at=cmd.get("expiresAt"),
            body=None if data is None else str(data).encode(),
            closed=bool(cmd.get("closed")),
        )
        fields: Result = {"status": r.status}
        if r.next_offset is not None:
            fields["offset"] = r.next_offset
        return ok("create", **fields)

    async def cmd_connect(self, cmd: Dict[str, Any]) -> Result:
        info = await self.stream(cmd).head()
        return ok("connect", status=200, offset=info.offset)

    async def cmd_append(self, cmd: Dict[str, Any]) -> Result:
        h = self.stream(cmd)
        seq = cmd.get("seq")
        r = await h.append(payload(cmd), seq=None if seq is None else str(int(seq)))
        return self.dynamic.report(ok("append", status=200, offset=r.next_offset))

    async def cmd_head(self, cmd: Dict[str, Any]) -> Result:
        info = await self.stream(cmd).head()
        fields: Result = {"status": 200, "offset": info.offset, "streamClosed": info.closed}
        if info.content_type is not None:
            fields["contentType"] = info.content_type
        if info.ttl_seconds is not None:
            fields["ttlSeconds"] = info.ttl_seconds
        if info.expires_at is not None:
            fields["expiresAt"] = info.expires_at
        return ok("head", **fields)

    async def cmd_delete(self, cmd: Dict[str, Any]) -> Result:
        h = self.stream(cmd)
        path = str(cmd.get("path", "/"))
        try:
            await h.delete()
        finally:
            self.handles.pop(path, None)
            for key in [k for k in self.producers if k[0] == path]:
                del self.producers[key]
        return ok("delete", status=200)

    async def cmd_close(self, cmd: Dict[str, Any]) -> Result:
        h = self.stream(cmd)
        if cmd.get("contentType"):
            h.content_type = str(cmd["contentType"])
        data = cmd.get("data")
        r = await h.close(str(data).encode() if data else None)
        return ok("close", finalOffset=r.final_offset)

    async def cmd_read(self, cmd: Dict[str, Any]) -> Result:
        h = self.stream(cmd)
        live_arg = cmd.get("live")
        live: durastream.LiveMode
        if live_arg in ("long-poll", "sse"):
            live = live_arg
        elif live_arg is True:
            live = "auto"
        else:
            live = False
        offset = cmd.get("offset")
        timeout = max(0, int(cmd.get("timeoutMs", 5000))) / 1000
        max_chunks = max(1, int(cmd.get("maxChunks", 100)))
        wait_up_to_date = bool(cmd.get("waitForUpToDate"))
        res = h.stream(offset=offset, live=live)
        events = res.iter_events("bytes", include_empty=True)
        deadline = time.monotonic() + timeout
        chunks: List[Result] = []
        last_offset: Optional[str] = None
        cursor: Optional[str] = None
        up_to_date = closed = False
        last_status = 200
        try:
            while True:
                try:
                    if live is False:
                        ev = await events.__anext__()
                    else:
                        remaining = max(0.0, deadline - time.monotonic())
                        ev = await asyncio.wait_for(events.__anext__(), remaining)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    up_to_date = True  # the command's own time limit: not an error
                    break
                last_status = ev.status
                last_offset = ev.next_offset
                if ev.cursor is not None:
                    cursor = ev.cursor
                up_to_date = ev.up_to_date
                closed = ev.closed
                chunk = chunk_json(ev.data, h.content_type)
                if chunk is not None:
                    chunk["offset"] = ev.next_offset
                    chunks.append(chunk)
                if live is not False and (len(chunks) >= max_chunks
                                          or (wait_up_to_date and ev.up_to_date)
                                          or ev.closed):
                    break
        finally:
            await res.aclose()
        fields: Result = {
            "status": 204 if not chunks and last_status == 204 else 200,
            "chunks": chunks,
            "upToDate": up_to_date,
            "streamClosed": closed,
        }
        if last_offset is None and offset not in (None, "-1", "now"):
            last_offset = offset
        if last_offset is not None:
            fields["offset"] = last_offset
        if cursor is not None:
            fields["cursor"] = cursor
        return self.dynamic.report(ok("read", **fields))

    def cached_producer(self, cmd: Dict[str, Any]) -> durastream.IdempotentProducer:
        key = (str(cmd.get("path", "/")), str(cmd.get("producerId", "")),
               int(cmd.get("epoch") or 0))
        p = self.producers.get(key)
        if p is None:
            p = durastream.IdempotentProducer(self.stream(cmd), key[1], epoch=key[2],
                                              auto_claim=bool(cmd.get("autoClaim")))
            self.producers[key] = p
        return p

    async def cmd_idempotent_append(self, cmd: Dict[str, Any]) -> Result:
        p = self.cached_producer(cmd)
        p.append(str(cmd.get("data", "")).encode())
        await p.aflush()
        fields: Result = {"status": 200, "producerSeq": max(0, p.next_seq - 1)}
        if p.last_offset is not None:
            fields["offset"] = p.last_offset
        return ok("idempotent-append", **fields)

    async def cmd_idempotent_append_batch(self, cmd: Dict[str, Any]) -> Result:
        in_flight = max(1, int(cmd.get("maxInFlight") or 1))
        tiny: Dict[str, Any] = {}
        if in_flight > 1:
            # Tiny batches so that several requests really are in flight at once.
            tiny = {"max_batch_bytes": 1, "linger_ms": 0}
        p = durastream.IdempotentProducer(
            self.stream(cmd), str(cmd.get("producerId", "")), epoch=int(cmd.get("epoch") or 0),
            auto_claim=bool(cmd.get("autoClaim")), max_in_flight=in_flight, **tiny)
        for item in cmd.get("items") or []:
            if isinstance(item, str):
                await p.aappend_wait(item.encode())
        await p.aflush()
        await p.adetach()
        return ok("idempotent-append-batch", status=200, producerSeq=max(0, p.next_seq - 1))

    async def cmd_idempotent_close(self, cmd: Dict[str, Any]) -> Result:
        p = self.cached_producer(cmd)
        data = cmd.get("data")
        r = await p.aclose(str(data).encode() if data else None)
        return ok("idempotent-close", status=200, finalOffset=r.final_offset)

    async def cmd_idempotent_detach(self, cmd: Dict[str, Any]) -> Result:
        key = (str(cmd.get("path", "/")), str(cmd.get("producerId", "")),
               int(cmd.get("epoch") or 0))
        p = self.producers.pop(key, None)
        if p is not None:
            await p.adetach()
        return ok("idempotent-detach", status=200)

    async def cmd_set_dynamic_header(self, cmd: Dict[str, Any]) -> Result:
        assert self.client is not None
        name = str(cmd.get("name", ""))
        fn = self.dynamic.make(str(cmd.get("valueType", "")), name, cmd.get("initialValue"),
                               self.dynamic.headers)
        self.client.set_header(name, fn)
        return ok("set-dynamic-header")

    async def cmd_set_dynamic_param(self, cmd: Dict[str, Any]) -> Result:
        assert self.client is not None
        name = str(cmd.get("name", ""))
        fn = self.dynamic.make(str(cmd.get("valueType", "")), name, None, self.dynamic.params)
        self.client.set_param(name, fn)
        return ok("set-dynamic-param")

    async def cmd_clear_dynamic(self, cmd: Dict[str, Any]) -> Result:
        assert self.client is not None
        self.client.clear_dynamic()
        self.dynamic = _Dynamic()
        return ok("clear-dynamic")

    def validate(self, cmd: Dict[str, Any]) -> Result:
        t = cmd.get("target") or {}
        try:
            if t.get("target") == "retry-options":
                given: Dict[str, Any] = {}
                for key, name in (("maxRetries", "max_retries"),
                                  ("initialDelayMs", "initial_delay_ms"),
                                  ("maxDelayMs", "max_delay_ms"),
                                  ("multiplier", "multiplier")):
                    if t.get(key) is not None:
                        given[name] = int(t[key]) if key == "maxRetries" else t[key]
                durastream.RetryOptions(**given)
            elif t.get("target") == "idempotent-producer":
                durastream.IdempotentProducer.validate_options(
                    producer_id=t.get("producerId"),
                    epoch=_int(t.get("epoch")),
                    max_batch_bytes=_int(t.get("maxBatchBytes")),
                    max_batch_items=_int(t.get("maxBatchItems")),
                    max_in_flight=_int(t.get("maxInFlight")),
                    linger_ms=t.get("lingerMs"),
                )
            else:
                return error("validate", "NOT_SUPPORTED",
                             f"unknown validation target {t.get('target')!r}")
        except DurableStreamError as e:
            return error("validate", _CODES.get(e.code, "UNEXPECTED_STATUS"), e.message)
        return ok("validate")


def payload(cmd: Dict[str, Any]) -> bytes:
    """The append body: text, or base64-decoded bytes when ``binary`` is set."""
    data = str(cmd.get("data", ""))
    if cmd.get("binary"):
        return base64.b64decode(data)
    return data.encode()


def chunk_json(data: bytes, content_type: Optional[str]) -> Optional[Result]:
    """``{data, binary?}`` for a chunk with data: JSON arrays compacted, other UTF-8 text as
    is, other bytes base64. ``None`` for a chunk without data."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"data": base64.b64encode(data).decode(), "binary": True}
    if content_type is not None and _durastream.is_json_content_type(content_type):
        text = _durastream.json_minify(text)
        if text in ("", "[]"):
            return None
    if not text:
        return None
    return {"data": text}


def main() -> int:
    """Reads commands from stdin until ``shutdown`` or end of input."""
    adapter = Adapter()
    loop = asyncio.new_event_loop()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                cmd = json.loads(line)
            except ValueError as e:
                result = error("unknown", "PARSE_ERROR", f"bad command line: {e}")
                cmd = {}
            else:
                result = loop.run_until_complete(adapter.handle(cmd))
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
            if cmd.get("type") == "shutdown":
                break
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

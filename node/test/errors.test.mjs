import { test } from "node:test"
import assert from "node:assert/strict"
import * as api from "@durastream/client"
import { useServer } from "./helpers.mjs"

const { DurableStream, DurableStreamError, stream } = api
const ctx = useServer()

test("the class/code mapping is pinned (decided once, in src/error.rs)", () => {
  const pinned = {
    StreamNotFoundError: "NOT_FOUND", StreamGoneError: "GONE", StreamConflictError: "CONFLICT",
    StreamClosedError: "STREAM_CLOSED", SequenceConflictError: "SEQUENCE_CONFLICT",
    SequenceGapError: "SEQUENCE_GAP", StaleEpochError: "STALE_EPOCH", BadRequestError: "BAD_REQUEST",
    InvalidOffsetError: "INVALID_OFFSET", UnauthorizedError: "UNAUTHORIZED",
    UnexpectedStatusError: "UNEXPECTED_STATUS", RetryExhaustedError: "RETRY_EXHAUSTED",
    ParseError: "PARSE_ERROR", NetworkError: "NETWORK_ERROR", TimeoutError: "TIMEOUT",
    InvalidArgumentError: "INVALID_ARGUMENT", BufferFullError: "BUFFER_FULL",
    ProducerClosedError: "PRODUCER_CLOSED",
  }
  for (const name of Object.keys(pinned)) {
    const C = api[name]
    assert.equal(typeof C, "function", name)
    const e = new C("m", { code: pinned[name] })
    assert.ok(e instanceof DurableStreamError && e instanceof Error)
    assert.equal(e.name, name)
    assert.equal(e.code, pinned[name])
  }
})

test("not found: class, code, status, url and path fields", async () => {
  const url = ctx.url("missing")
  const e = await DurableStream.connect({ url }).catch((x) => x)
  assert.ok(e instanceof api.StreamNotFoundError)
  assert.equal(e.code, "NOT_FOUND")
  assert.equal(e.status, 404)
  assert.equal(e.path, new URL(url).pathname)
  assert.ok(e.url.startsWith(ctx.server.url))
  assert.equal(e.retryable, false)
})

test("stream closed carries the final offset", async () => {
  const s = await DurableStream.create({ url: ctx.url(), contentType: "text/plain" })
  const { finalOffset } = await s.close({ body: "x" })
  const e = await s.append("y").catch((x) => x)
  assert.ok(e instanceof api.StreamClosedError)
  assert.equal(e.status, 409)
  assert.equal(e.streamClosed, true)
  assert.equal(e.finalOffset, finalOffset)
})

test("conflict on re-create with another config", async () => {
  const url = ctx.url()
  await DurableStream.create({ url, contentType: "text/plain" })
  await assert.rejects(DurableStream.create({ url, contentType: "application/json" }),
    (e) => e instanceof api.StreamConflictError && e.status === 409)
})

test("sequence gap carries expected and received sequence numbers", async () => {
  const url = ctx.url()
  const s = await DurableStream.create({ url, contentType: "text/plain" })
  const p = new api.IdempotentProducer(s, "gap", { lingerMs: 0 })
  p.append("a")
  await p.flush()
  p.append("b")
  await p.flush()
  // The server forgets the producer with the stream; its next batch (seq 2) is a gap.
  await s.delete()
  await DurableStream.create({ url, contentType: "text/plain" })
  const seen = []
  p.append("c")
  const e = await p.flush().catch((x) => x)
  assert.ok(e instanceof api.SequenceGapError, String(e))
  assert.equal(e.code, "SEQUENCE_GAP")
  assert.equal(e.status, 409)
  assert.equal(e.expectedSeq, 0)
  assert.equal(e.receivedSeq, 2)
  assert.ok(p.error instanceof api.SequenceGapError)
  assert.equal(seen.length, 0)
})

test("invalid arguments name the option", () => {
  assert.throws(() => new DurableStream({ url: "http://x/y", retry: { multiplier: 0.5 } }),
    (e) => e instanceof api.InvalidArgumentError && e.argument === "multiplier" && /multiplier/.test(e.message))
  assert.throws(() => new DurableStream({ url: "ftp://x/y" }), api.InvalidArgumentError)
  assert.throws(() => new DurableStream({}), api.MissingStreamUrlError)
  assert.throws(() => api.validateRetryOptions({ maxRetries: -1 }), (e) => e.argument === "maxRetries")
  assert.throws(() => api.validateProducerOptions("p", { maxBatchItems: 0 }), (e) => e.argument === "maxBatchItems")
})

test("parse errors on corrupted JSON bodies", async () => {
  const s = await DurableStream.create({ url: ctx.url(), contentType: "application/json" })
  await s.append('{"a":1}')
  await ctx.server.injectFault(new URL(s.url).pathname, { truncateBodyBytes: 3, method: "GET" })
  const e = await stream({ url: s.url, live: false }).then((r) => r.json()).catch((x) => x)
  assert.ok(e instanceof api.ParseError, String(e))
  assert.equal(e.code, "PARSE_ERROR")
})

test("exhausted retries report the last status and attempts", async () => {
  const s = await DurableStream.create({ url: ctx.url(), contentType: "text/plain", retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 } })
  await ctx.server.injectFault(new URL(s.url).pathname, { status: 503, count: 5 })
  const e = await s.head().catch((x) => x)
  assert.ok(e instanceof api.RetryExhaustedError, String(e))
  assert.equal(e.status, 503)
  assert.equal(e.attempts, 3)
  assert.equal(e.retryable, true)
  await ctx.server.clearFaults()
})

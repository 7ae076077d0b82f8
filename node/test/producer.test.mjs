import { test } from "node:test"
import assert from "node:assert/strict"
import {
  DurableStream, IdempotentProducer, stream, StaleEpochError, InvalidArgumentError,
  StreamClosedError,
} from "@durastream/client"
import { useServer } from "./helpers.mjs"

const ctx = useServer()

async function jsonHandle() {
  const url = ctx.url()
  return DurableStream.create({ url, contentType: "application/json" })
}

test("append never waits; items are batched and delivered exactly once in order", async () => {
  const s = await jsonHandle()
  const p = new IdempotentProducer(s, "p1", { lingerMs: 5, maxBatchBytes: 4096 })
  const n = 5000
  const t0 = performance.now()
  for (let i = 0; i < n; i++) p.append(JSON.stringify({ i }))
  assert.ok(performance.now() - t0 < 2000, "appends return without waiting on the network")
  await p.flush()
  assert.ok(p.nextSeq > 1 && p.nextSeq < n, `batched into ${p.nextSeq} requests`)
  const items = await (await stream({ url: s.url, live: false })).json()
  assert.deepEqual(items.map((x) => x.i), Array.from({ length: n }, (_, i) => i))
})

test("pendingCount and inFlightCount come from the core producer", async () => {
  const s = await jsonHandle()
  // A linger far beyond the test: nothing is sent before flush().
  const p = new IdempotentProducer(s, "counts", { lingerMs: 600000 })
  for (const i of [1, 2, 3]) p.append(JSON.stringify({ i }))
  assert.deepEqual([p.pendingCount, p.inFlightCount], [3, 0])
  await p.flush()
  assert.deepEqual([p.pendingCount, p.inFlightCount], [0, 0])
})

test("exactly-once under injected faults (500s, dropped connections, pipelining)", async () => {
  const s = await jsonHandle()
  const path = new URL(s.url).pathname
  await ctx.server.injectFault(path, { status: 500, count: 2, method: "POST" })
  await ctx.server.injectFault(path, { dropConnection: true, count: 1, method: "POST" })
  const p = new IdempotentProducer(s, "p-faults", { maxInFlight: 4, maxBatchBytes: 64, lingerMs: 0 })
  for (let i = 0; i < 200; i++) p.append(JSON.stringify(i))
  await p.flush()
  await ctx.server.clearFaults()
  const items = await (await stream({ url: s.url, live: false })).json()
  assert.deepEqual(items, Array.from({ length: 200 }, (_, i) => i))
})

test("close with a final message, idempotently; detach keeps the stream open", async () => {
  const s = await jsonHandle()
  const p = new IdempotentProducer(s, "p-close")
  p.append('"a"')
  const r1 = await p.close('"end"')
  const r2 = await p.close('"end"')
  assert.equal(r1.finalOffset, r2.finalOffset)
  const res = await stream({ url: s.url, live: false })
  assert.deepEqual(await res.json(), ["a", "end"])
  assert.equal(res.streamClosed, true)
  assert.throws(() => p.append('"late"'), (e) => e.code === "PRODUCER_CLOSED" || e instanceof StreamClosedError)

  const s2 = await jsonHandle()
  const d = new IdempotentProducer(s2, "p-detach")
  d.append("1")
  await d.detach()
  await s2.append("2")
  assert.deepEqual(await (await stream({ url: s2.url, live: false })).json(), [1, 2])
})

test("zombie fencing: a stale epoch fails; autoClaim takes over; restart bumps the epoch", async () => {
  const s = await jsonHandle()
  const newer = new IdempotentProducer(s, "shared", { epoch: 3 })
  newer.append("1")
  await newer.flush()
  const errors = []
  const old = new IdempotentProducer(s, "shared", { epoch: 1, onError: (e) => errors.push(e) })
  old.append("2")
  await assert.rejects(old.flush(), (e) => e instanceof StaleEpochError && e.currentEpoch === 3 && e.status === 403)
  assert.equal(errors.length, 1)
  assert.ok(errors[0] instanceof StaleEpochError)
  const epoch = await old.restart()
  assert.equal(epoch, 4)
  old.append("3")
  await old.flush()
  const claimer = new IdempotentProducer(s, "shared", { epoch: 0, autoClaim: true })
  claimer.append("4")
  await claimer.flush()
  assert.equal(claimer.epoch, 5)
  assert.deepEqual(await (await stream({ url: s.url, live: false })).json(), [1, 3, 4])
})

test("options are validated with the option's name", async () => {
  const s = await jsonHandle()
  assert.throws(() => new IdempotentProducer(s, "p", { maxBatchBytes: 0 }),
    (e) => e instanceof InvalidArgumentError && e.argument === "maxBatchBytes")
  assert.throws(() => new IdempotentProducer(s, "p", { epoch: -1 }),
    (e) => e instanceof InvalidArgumentError && /epoch/.test(e.message))
  assert.throws(() => new IdempotentProducer(s, "", {}), (e) => e.argument === "producerId")
})

test("invalid JSON items are refused at append time on a JSON stream", async () => {
  const s = await jsonHandle()
  const p = new IdempotentProducer(s, "p-json")
  assert.throws(() => p.append("{nope"), (e) => e.code === "PARSE_ERROR")
  p.append({ ok: true })
  await p.flush()
  assert.deepEqual(await (await stream({ url: s.url, live: false })).json(), [{ ok: true }])
})

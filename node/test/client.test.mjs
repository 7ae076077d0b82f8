import { test } from "node:test"
import assert from "node:assert/strict"
import { createRequire } from "node:module"
import { DurableStream, StreamNotFoundError, stream } from "@durastream/client"
import { useServer } from "./helpers.mjs"

const ctx = useServer()

test("create, append, head, read, delete (bytes)", async () => {
  const url = ctx.url()
  const s = await DurableStream.create({ url, contentType: "text/plain" })
  assert.equal(s.lastCreate.status, 201)
  await s.append("hello ")
  const r = await s.append(new TextEncoder().encode("world"))
  assert.match(r.offset, /\S/)
  const h = await s.head()
  assert.equal(h.exists, true)
  assert.equal(h.contentType, "text/plain")
  assert.equal(h.offset, r.offset)
  assert.equal(h.streamClosed, false)
  const res = await s.stream({ live: false })
  assert.equal(await res.text(), "hello world")
  assert.equal(res.offset, r.offset)
  assert.equal(res.upToDate, true)
  await s.delete()
  assert.deepEqual(await s.head(), { exists: false })
  await assert.rejects(s.delete(), StreamNotFoundError)
})

test("re-create with the same config answers 200", async () => {
  const url = ctx.url()
  await DurableStream.create({ url, contentType: "text/plain" })
  const again = await DurableStream.create({ url, contentType: "text/plain" })
  assert.equal(again.lastCreate.status, 200)
})

test("JSON appends: one message per append, objects serialized", async () => {
  const url = ctx.url()
  const s = await DurableStream.create({ url, contentType: "application/json" })
  await s.append(JSON.stringify({ a: 1 }))
  await s.append([1, 2]) // an array stays one message
  await s.append({ b: "x" })
  const res = await stream({ url, live: false })
  assert.deepEqual(await res.json(), [{ a: 1 }, [1, 2], { b: "x" }])
})

test("connect learns the content type; connect to a missing stream throws", async () => {
  const url = ctx.url()
  await DurableStream.create({ url, contentType: "application/json" })
  const s = await DurableStream.connect({ url })
  assert.equal(s.contentType, "application/json")
  await assert.rejects(DurableStream.connect({ url: ctx.url("missing") }), StreamNotFoundError)
})

test("close: final message, idempotent close, closed flag on reads", async () => {
  const url = ctx.url()
  const s = await DurableStream.create({ url, contentType: "text/plain" })
  await s.append("a")
  const c = await s.close({ body: "z" })
  assert.match(c.finalOffset, /\S/)
  const again = await s.close()
  assert.equal(again.finalOffset, c.finalOffset)
  assert.equal((await s.head()).streamClosed, true)
  const res = await s.stream({ live: "long-poll" })
  assert.equal(await res.text(), "az")
  assert.equal(res.streamClosed, true)
})

test("forks inherit the source up to the fork offset", async () => {
  const src = await DurableStream.create({ url: ctx.url("src"), contentType: "text/plain" })
  const { offset } = await src.append("abc")
  await src.append("def")
  const fork = await src.fork({ url: ctx.url("fork"), offset })
  await fork.append("XYZ")
  assert.equal(await (await fork.stream({ live: false })).text(), "abcXYZ")
  const full = await src.fork({ url: ctx.url("fork2") })
  assert.equal(await (await full.stream({ live: false })).text(), "abcdef")
  const sub = await src.fork({ url: ctx.url("fork3"), offset, subOffset: 2 })
  assert.equal(await (await sub.stream({ live: false })).text(), "abcde")
})

test("headers and params: values and (async) functions, evaluated per request", async () => {
  const url = ctx.url()
  let n = 0
  const s = await DurableStream.create({
    url, contentType: "text/plain",
    headers: { "x-static": "1", "x-count": () => String(++n), authorization: async () => "Bearer t" },
    params: { tenant: () => "acme" },
  })
  await s.append("x")
  await s.append("y")
  assert.ok(n >= 3, `header function called per request (got ${n})`)
})

test("Stream-Seq appends must increase", async () => {
  const s = await DurableStream.create({ url: ctx.url(), contentType: "text/plain" })
  await s.append("a", { seq: "0002" })
  await assert.rejects(s.append("b", { seq: "0001" }), (e) => e.code === "SEQUENCE_CONFLICT" && e.status === 409)
})

test("CommonJS entry point exports the same API", () => {
  const require = createRequire(import.meta.url)
  const cjs = require("@durastream/client")
  assert.equal(cjs.DurableStream, DurableStream)
  assert.match(cjs.version, /^\d+\.\d+\.\d+/)
  assert.equal(cjs.version, require("@durastream/client/package.json").version)
  assert.equal(typeof cjs.IdempotentProducer, "function")
  assert.equal(typeof cjs.DurableStreamTestServer, "function")
})

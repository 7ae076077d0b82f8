import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { DurableStream, stream, InvalidOffsetError, StreamNotFoundError } from "@durastream/client"
import { useServer } from "./helpers.mjs"

const ctx = useServer()

async function jsonStream(n = 3) {
  const url = ctx.url()
  const s = await DurableStream.create({ url, contentType: "application/json" })
  for (let i = 0; i < n; i++) await s.append(JSON.stringify({ i }))
  return { url, s }
}

test("catch-up: json(), jsonStream(), body(), bodyStream(), textStream()", async () => {
  const { url } = await jsonStream(3)
  assert.deepEqual(await (await stream({ url, live: false })).json(), [{ i: 0 }, { i: 1 }, { i: 2 }])
  const items = []
  for await (const item of (await stream({ url, live: false })).jsonStream()) items.push(item)
  assert.deepEqual(items, [{ i: 0 }, { i: 1 }, { i: 2 }])
  const body = await (await stream({ url, live: false })).body()
  assert.ok(body instanceof Uint8Array)
  assert.deepEqual(JSON.parse(new TextDecoder().decode(body)), [{ i: 0 }, { i: 1 }, { i: 2 }])
  let bytes = 0
  for await (const b of (await stream({ url, live: false })).bodyStream()) bytes += b.length
  assert.equal(bytes, body.length)
  // The ReadableStream side works too (getReader).
  const r = (await stream({ url, live: false })).jsonStream().getReader()
  assert.deepEqual((await r.read()).value, { i: 0 })
})

test("textStream reassembles characters split across chunks", async () => {
  const url = ctx.url()
  const s = await DurableStream.create({ url, contentType: "text/plain" })
  const snow = Buffer.from("☃", "utf8")
  await s.append(snow.subarray(0, 1))
  await s.append(snow.subarray(1))
  let out = ""
  const res = await stream({ url, live: "long-poll" })
  const appended = (async () => { await s.close() })()
  for await (const t of res.textStream()) out += t
  await appended
  assert.equal(out, "☃")
})

test("json() of a large single response does not overflow the stack", async () => {
  const url = ctx.url()
  const s = await DurableStream.create({ url, contentType: "application/json" })
  const batch = Array.from({ length: 150_000 }, (_, i) => i)
  await s.append(JSON.stringify(batch), { flatten: true })
  const items = await (await stream({ url, live: false })).json()
  assert.equal(items.length, batch.length)
})

for (const live of ["long-poll", "sse", true]) {
  test(`live ${JSON.stringify(live)}: catches up then delivers new data, ends at close`, async () => {
    const { url, s } = await jsonStream(2)
    const res = await stream({ url, live })
    const seen = []
    const done = new Promise((resolve, reject) => {
      res.subscribeJson(async (batch) => {
        seen.push(...batch.items)
        if (batch.upToDate && seen.length === 2) await s.append(JSON.stringify({ i: 2 }))
        if (seen.length === 3 && !batch.streamClosed) await s.close()
        if (batch.streamClosed) resolve()
      })
      res.closed.then(resolve, reject)
    })
    await done
    await res.closed
    assert.deepEqual(seen, [{ i: 0 }, { i: 1 }, { i: 2 }])
    assert.equal(res.streamClosed, true)
  })
}

test("subscribers apply back-pressure: the next batch waits for the callback", async () => {
  const { url, s } = await jsonStream(1)
  const res = await stream({ url, live: "long-poll" })
  let inside = 0
  let maxInside = 0
  let calls = 0
  await new Promise((resolve) => {
    res.subscribeBytes(async () => {
      inside++
      maxInside = Math.max(maxInside, inside)
      calls++
      if (calls === 1) { await s.append('"x"'); await s.append('"y"') }
      await new Promise((r) => setTimeout(r, 20))
      inside--
      if (calls === 3) resolve()
    })
  })
  res.cancel()
  assert.equal(maxInside, 1)
})

test("offsets: resume from a returned offset, and from now", async () => {
  const { url, s } = await jsonStream(2)
  const first = await stream({ url, live: false })
  await first.json()
  await s.append('"later"')
  const resumed = await stream({ url, offset: first.offset, live: false })
  assert.deepEqual(await resumed.json(), ["later"])
  const now = await stream({ url, offset: "now", live: false })
  assert.deepEqual(await now.json(), [])
})

test("errors: missing stream and malformed offset", async () => {
  await assert.rejects(stream({ url: ctx.url("nope"), live: false }), StreamNotFoundError)
  const { url } = await jsonStream(1)
  await assert.rejects(stream({ url, offset: "garbage!", live: false }), InvalidOffsetError)
})

test("cancellation: AbortSignal ends a live read; cancel() settles pending reads", async () => {
  const { url } = await jsonStream(1)
  const ac = new AbortController()
  const res = await stream({ url, live: "sse", signal: ac.signal })
  const items = []
  const it = res.jsonStream()[Symbol.asyncIterator]()
  items.push((await it.next()).value)
  const pending = it.next()
  setTimeout(() => ac.abort(), 50)
  await assert.rejects(pending, (e) => e.name === "AbortError")
  assert.deepEqual(items, [{ i: 0 }])
  await res.closed
  const ac2 = new AbortController()
  ac2.abort()
  await assert.rejects(stream({ url, signal: ac2.signal }), (e) => e.name === "AbortError")
})

test("a cancelled live read does not keep the process alive", async () => {
  const { url } = await jsonStream(1)
  const lib = fileURLToPath(import.meta.resolve("@durastream/client"))
  const script = `
    import { stream } from ${JSON.stringify(lib)}
    const res = await stream({ url: ${JSON.stringify(url)}, live: "long-poll" })
    const it = res.jsonStream()[Symbol.asyncIterator]()
    await it.next()
    const pending = it.next()
    setTimeout(() => res.cancel(), 50)
    const r = await pending
    console.log(JSON.stringify(r))
  `
  const t0 = Date.now()
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), '{"done":true}')
  assert.ok(Date.now() - t0 < 10_000)
})

test("injected faults are retried transparently", async () => {
  const { url } = await jsonStream(2)
  const path = new URL(url).pathname
  await ctx.server.injectFault(path, { status: 503, count: 2 })
  assert.deepEqual(await (await stream({ url, live: false })).json(), [{ i: 0 }, { i: 1 }])
})

/** Appends each item as its own message (a POST of a JSON array). */
async function appendMany(url, items) {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(items) })
  assert.ok(r.ok, `append ${r.status}`)
}

test("jsonStream() parses a large chunk a piece at a time, in order, with the items of json()", async () => {
  const url = ctx.url()
  await DurableStream.create({ url, contentType: "application/json" })
  const item = (i) => ({ i, text: `item ${i}, with [brackets] and "quotes" \\ and commas,`.repeat(3), nested: [{ a: [i] }] })
  for (let b = 0; b < 4; b++) await appendMany(url, Array.from({ length: 1000 }, (_, j) => item(b * 1000 + j)))
  const all = await (await stream({ url, live: false })).json()
  assert.equal(all.length, 4000)
  const it = (await stream({ url, live: false })).jsonStream()[Symbol.asyncIterator]()
  // Calls that do not wait for each other still get the items in order.
  const first = await Promise.all([it.next(), it.next(), it.next()])
  assert.deepEqual(first.map((r) => r.value), all.slice(0, 3))
  const items = first.map((r) => r.value)
  for (let r; !(r = await it.next()).done;) items.push(r.value)
  assert.deepEqual(items, all)
  assert.deepEqual(await it.next(), { value: undefined, done: true })
})

test("jsonStream() of a large truncated body fails with a parse error", async () => {
  const url = ctx.url()
  await DurableStream.create({ url, contentType: "application/json" })
  await appendMany(url, Array.from({ length: 5000 }, (_, i) => ({ i, pad: "x".repeat(100) })))
  await ctx.server.injectFault(new URL(url).pathname, { truncateBodyBytes: 3, method: "GET" })
  const e = await (async () => {
    for await (const _ of (await stream({ url, live: false })).jsonStream());
  })().catch((x) => x)
  assert.equal(e?.code, "PARSE_ERROR", String(e))
})

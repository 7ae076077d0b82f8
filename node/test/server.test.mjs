import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DurableStream, DurableStreamServer, DurableStreamTestServer, stream, InvalidArgumentError } from "@durastream/client"

test("DurableStreamTestServer: root paths, start/url/stop, restartable", async () => {
  const server = new DurableStreamTestServer({ longPollTimeout: 200 })
  const url = await server.start()
  assert.equal(url, server.url)
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.ok(server.port > 0)
  const s = await DurableStream.create({ url: `${url}/root-stream`, contentType: "text/plain" })
  await s.append("hi")
  assert.equal(await (await stream({ url: `${url}/root-stream`, live: false })).text(), "hi")
  // long-poll timeout is honoured: an empty live read gets a 204 quickly
  const t0 = Date.now()
  const res = await stream({ url: `${url}/root-stream`, offset: "now", live: "long-poll" })
  assert.equal(res.status, 204)
  assert.ok(Date.now() - t0 < 2000)
  res.cancel()
  await server.stop()
  await server.stop()
  await assert.rejects(fetch(`${url}/root-stream`))
})

test("DurableStreamServer: prefix, file-backed data survives a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "durastream-node-"))
  try {
    const a = new DurableStreamServer({ dataDir: dir })
    await a.start()
    assert.equal(a.prefix, "/v1/stream")
    const url = a.streamUrl("persisted")
    assert.ok(url.endsWith("/v1/stream/persisted"))
    const s = await DurableStream.create({ url, contentType: "text/plain" })
    await s.append("kept")
    await a.stop()
    const b = new DurableStreamServer({ dataDir: dir })
    await b.start()
    assert.equal(await (await stream({ url: b.streamUrl("persisted"), live: false })).text(), "kept")
    await b.stop()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("fault injection through the test server", async () => {
  const server = new DurableStreamTestServer()
  await server.start()
  try {
    const s = await DurableStream.create({ url: `${server.url}/f`, contentType: "text/plain", retry: { maxRetries: 0 } })
    await server.injectError("/f", 404, 1)
    await assert.rejects(s.head().then((h) => { if (!h.exists) throw new Error("404") }), /404/)
    await server.injectFault("/f", { status: 500 })
    await assert.rejects(s.append("x"), (e) => e.status === 500)
    await server.clearFaults()
    await s.append("y")
  } finally {
    await server.stop()
  }
})

test("invalid server options are refused", async () => {
  await assert.rejects(new DurableStreamServer({ host: "not an ip" }).start(), InvalidArgumentError)
})

test("access control on the in-process server", async () => {
  const authTokens = "reader-token-0123456789 read /\nwriter-token-0123456789 write /\n"
  const server = new DurableStreamServer({ authTokens })
  await server.start()
  try {
    const url = `${server.url}/v1/stream/guarded`
    const writer = { Authorization: "Bearer writer-token-0123456789" }
    const reader = { Authorization: "Bearer reader-token-0123456789" }
    const s = await DurableStream.create({ url, contentType: "text/plain", headers: writer })
    await s.append("secret")
    const res = await stream({ url, offset: "-1", live: false, headers: reader })
    assert.equal(await res.text(), "secret")
    const asReader = new DurableStream({ url, headers: reader, retry: { maxRetries: 0 } })
    await assert.rejects(asReader.append("no"), (e) => e.status === 403)
    await assert.rejects(stream({ url, offset: "-1", live: false, retry: { maxRetries: 0 } }), (e) => e.status === 401)
  } finally {
    await server.stop()
  }
  await assert.rejects(new DurableStreamServer({ authTokens: "too-short read /" }).start(), InvalidArgumentError)
})

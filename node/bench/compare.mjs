#!/usr/bin/env node
// Compares, in one run against the same server, this addon with @durable-streams/client
// 0.2.7 and with raw node:http doing the same work (the floor):
//   producer throughput, catch-up read throughput (JSON items, one 200k-message response),
//   SSE and long-poll delivery latency.
// The server is the bundled durastream server, started in a child process so that it does
// not share the benchmark's JavaScript thread.
// Usage: node bench/compare.mjs [--quick] [--only=producer,read,latency] [--read-rounds=9]
import http from "node:http"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import * as ours from "../lib/index.mjs"
import * as ts from "@durable-streams/client"

const quick = process.argv.includes("--quick")
const only = (process.argv.find((a) => a.startsWith("--only=")) ?? "--only=producer,read,latency").slice(7).split(",")
const PRODUCE_N = quick ? 20_000 : 100_000
const READ_N = quick ? 50_000 : 200_000
const LAT_N = quick ? 50 : 200
const RUNS = 3
// Interleaved rounds of the catch-up readers (best kept): more rounds give a steadier best
// on a loaded machine. --read-rounds=N overrides.
const READ_ROUNDS = Number((process.argv.find((a) => a.startsWith("--read-rounds=")) ?? "--read-rounds=9").slice(14))
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })

// ---- server in a child process --------------------------------------------------------
async function startServer() {
  const lib = fileURLToPath(new URL("../lib/index.mjs", import.meta.url))
  const code = `
    import { DurableStreamServer } from ${JSON.stringify(lib)}
    const s = new DurableStreamServer({ maxReadBytes: 256 * 1024 * 1024, longPollTimeoutMs: 20000 })
    await s.start()
    console.log(s.streamUrl(""))
    process.stdin.resume()
    process.stdin.on("end", async () => { await s.stop(); process.exit(0) })
  `
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["pipe", "pipe", "inherit"] })
  const base = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(String(d).trim()))
    child.once("exit", (c) => reject(new Error(`server exited ${c}`)))
  })
  return { base, stop: () => child.stdin.end() }
}

// ---- raw node:http helpers -------------------------------------------------------------
async function request(method, url, opts = {}) {
  try {
    return await request1(method, url, opts)
  } catch (e) {
    // A pooled keep-alive socket the server closed meanwhile: the request never left.
    if (e.code !== "ECONNRESET") throw e
    return request1(method, url, opts)
  }
}

function request1(method, url, { body, headers } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      const parts = []
      res.on("data", (d) => parts.push(d))
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(body)
  })
}

async function create(url, contentType = "application/json") {
  const r = await request("PUT", url, { headers: { "content-type": contentType } })
  if (r.status >= 300) throw new Error(`create ${r.status}`)
}

const msg = (i) => JSON.stringify({ id: i, user: "user-" + (i % 100), text: "lorem ipsum dolor sit amet ".repeat(2), ts: 1700000000000 + i })

async function best(fn) {
  let b = Infinity
  for (let i = 0; i < RUNS; i++) b = Math.min(b, await fn())
  return b
}

// ---- producer throughput ---------------------------------------------------------------
async function produceOurs(base) {
  const url = base + "p-" + randomUUID()
  const s = await ours.DurableStream.create({ url, contentType: "application/json" })
  const t0 = performance.now()
  const p = new ours.IdempotentProducer(s, "bench", { lingerMs: 5, maxInFlight: 2 })
  for (let i = 0; i < PRODUCE_N; i++) p.append(msg(i))
  await p.flush()
  const ms = performance.now() - t0
  await p.detach()
  return ms
}

async function produceTs(base) {
  const url = base + "p-" + randomUUID()
  const s = await ts.DurableStream.create({ url, contentType: "application/json" })
  const t0 = performance.now()
  const p = new ts.IdempotentProducer(s, "bench", { lingerMs: 5 })
  for (let i = 0; i < PRODUCE_N; i++) p.append(msg(i))
  await p.flush()
  const ms = performance.now() - t0
  await p.detach()
  return ms
}

async function produceRaw(base) {
  const url = base + "p-" + randomUUID()
  await create(url)
  const t0 = performance.now()
  let batch = []
  let bytes = 0
  let seq = 0
  const send = async () => {
    const r = await request("POST", url, {
      body: "[" + batch.join(",") + "]",
      headers: { "content-type": "application/json", "producer-id": "raw", "producer-epoch": "0", "producer-seq": String(seq++) },
    })
    if (r.status >= 300) throw new Error(`append ${r.status}`)
    batch = []
    bytes = 0
  }
  for (let i = 0; i < PRODUCE_N; i++) {
    const m = msg(i)
    batch.push(m)
    bytes += m.length
    if (bytes >= 1024 * 1024) await send()
  }
  if (batch.length) await send()
  return performance.now() - t0
}

// ---- catch-up read throughput ----------------------------------------------------------
async function fillReadStream(base) {
  const url = base + "r-" + randomUUID()
  await create(url)
  for (let i = 0; i < READ_N; i += 20_000) {
    const items = []
    for (let j = i; j < Math.min(READ_N, i + 20_000); j++) items.push(msg(j))
    await request("POST", url, { body: "[" + items.join(",") + "]", headers: { "content-type": "application/json" } })
  }
  return url
}

function timeIt(fn) {
  return async () => {
    const t0 = performance.now()
    const n = await fn()
    if (n !== READ_N) throw new Error(`read ${n} items, expected ${READ_N}`)
    return performance.now() - t0
  }
}

function readers(url) {
  const rawJson = async () => {
    const r = await request("GET", url + "?offset=-1")
    if (r.headers["stream-up-to-date"] === undefined) throw new Error("not a single response")
    let n = 0
    for (const _ of JSON.parse(r.body.toString("utf8"))) n++
    return n
  }
  const o = (opts) => ours.stream({ url, live: false, ...opts })
  const t = () => ts.stream({ url, live: false })
  const countIter = async (it) => { let n = 0; for await (const _ of it) n++; return n }
  const rawIter = async () => {
    const r = await request("GET", url + "?offset=-1")
    const items = JSON.parse(r.body.toString("utf8"))
    let n = 0
    for await (const _ of { [Symbol.asyncIterator]() { let i = 0; return { next: async () => (i < items.length ? { value: items[i++], done: false } : { value: undefined, done: true }) } } }) n++
    return n
  }
  return {
    "raw node:http (GET + JSON.parse)": rawJson,
    "raw node:http (GET + JSON.parse + for await per item)": rawIter,
    "durastream json()": async () => (await (await o()).json()).length,
    "durastream jsonStream()": async () => countIter((await o()).jsonStream()),
    "durastream subscribeJson()": async () => {
      const res = await o()
      let n = 0
      res.subscribeJson((b) => { n += b.items.length })
      await res.closed
      return n
    },
    "durastream text() + JSON.parse": async () => JSON.parse(await (await o()).text()).length,
    "durastream body() + JSON.parse": async () => JSON.parse(Buffer.from(await (await o()).body()).toString("utf8")).length,
    "durastream bodyStream() + JSON.parse": async () => {
      const parts = []
      for await (const b of (await o()).bodyStream()) parts.push(b)
      return JSON.parse(Buffer.concat(parts).toString("utf8")).length
    },
    "@durable-streams/client json()": async () => (await (await t()).json()).length,
    "@durable-streams/client subscribeJson()": async () => {
      const res = await t()
      let n = 0
      await new Promise((resolve) => {
        res.subscribeJson((b) => { n += b.items.length; if (b.upToDate) resolve() })
      })
      res.cancel()
      return n
    },
    "@durable-streams/client jsonStream()": async () => countIter((await t()).jsonStream()),
  }
}

// ---- live delivery latency -------------------------------------------------------------
async function liveReader(base, mode, kind) {
  const url = base + "l-" + randomUUID()
  await create(url)
  const r = { url, resolveNext: null }
  const hit = () => { if (r.resolveNext) r.resolveNext() }
  if (kind === "raw") {
    if (mode === "sse") {
      const req = http.get(url + "?offset=now&live=sse", { agent: false }, (res) => {
        res.setEncoding("utf8")
        res.on("data", (d) => { if (d.includes("event: data")) hit() })
        res.on("error", () => {})
      })
      req.on("error", () => {})
      r.stop = () => req.destroy()
    } else {
      let offset = "now"
      let active = true
      ;(async () => {
        while (active) {
          const res = await request("GET", `${url}?offset=${offset}&live=long-poll`).catch(() => null)
          if (!res) break
          offset = res.headers["stream-next-offset"] ?? offset
          if (res.status === 200 && res.body.length > 2) hit()
        }
      })()
      r.stop = () => { active = false }
    }
  } else {
    const res = await ours.stream({ url, offset: "now", live: mode })
    res.subscribeBytes((c) => { if (c.data.length > 2) hit() })
    r.stop = () => res.cancel()
  }
  return r
}

/** Delivery latency of raw and durastream readers, measured alternately (same conditions). */
async function latency(base, mode) {
  const readers = { raw: await liveReader(base, mode, "raw"), ours: await liveReader(base, mode, "ours") }
  const samples = { raw: [], ours: [] }
  await new Promise((r) => setTimeout(r, 200))
  for (let i = 0; i < LAT_N + 10; i++) {
    for (const k of ["raw", "ours"]) {
      const r = readers[k]
      const got = new Promise((res) => (r.resolveNext = res))
      const t0 = performance.now()
      await request("POST", r.url, { body: msg(i), headers: { "content-type": "application/json" } })
      await got
      const dt = performance.now() - t0
      r.resolveNext = null
      if (i >= 10) samples[k].push(dt)
    }
  }
  for (const r of Object.values(readers)) {
    r.stop()
    // A final append wakes a pending long-poll so it can end.
    await request("POST", r.url, { body: msg(0), headers: { "content-type": "application/json" } })
  }
  const stat = (xs) => {
    xs.sort((a, b) => a - b)
    return { p50: xs[xs.length >> 1], p90: xs[Math.floor(xs.length * 0.9)] }
  }
  return { raw: stat(samples.raw), ours: stat(samples.ours) }
}

// ---- main ------------------------------------------------------------------------------
const server = await startServer()
const rows = []
try {
  if (only.includes("producer")) {
  console.log(`# producer: ${PRODUCE_N} JSON messages (~${msg(1).length} B each); best of ${RUNS}`)
  const pr = {
    "raw node:http (1 MiB producer batches)": await best(() => produceRaw(server.base)),
    "durastream IdempotentProducer": await best(() => produceOurs(server.base)),
    "@durable-streams/client IdempotentProducer": await best(() => produceTs(server.base)),
  }
  const tsP = pr["@durable-streams/client IdempotentProducer"]
  for (const [k, ms] of Object.entries(pr)) {
    const line = `| producer | ${k} | ${Math.round(PRODUCE_N / ms * 1000).toLocaleString("en")} msgs/s | ${(tsP / ms).toFixed(2)}x TS client |`
    rows.push(line)
    console.log(line)
  }

  }
  if (only.includes("read")) {
  console.log(`# catch-up read: one response of ${READ_N} JSON messages; best of ${READ_ROUNDS} interleaved rounds`)
  const url = await fillReadStream(server.base)
  const rs = readers(url)
  // Rounds interleave the readers so that load from elsewhere hits them alike; best of
  // READ_ROUNDS per reader (the quadratic TS jsonStream() runs once).
  const bestMs = {}
  const failed = {}
  for (let round = 0; round < READ_ROUNDS; round++) {
    for (const [k, fn] of Object.entries(rs)) {
      if (failed[k] || (round > 0 && k.includes("@durable-streams/client jsonStream"))) continue
      try {
        bestMs[k] = Math.min(bestMs[k] ?? Infinity, await timeIt(fn)())
      } catch (e) {
        failed[k] = String(e.message ?? e).slice(0, 60)
      }
    }
  }
  const rawMs = bestMs["raw node:http (GET + JSON.parse)"]
  const rawIterMs = bestMs["raw node:http (GET + JSON.parse + for await per item)"]
  for (const k of Object.keys(rs)) {
    const perItem = k.includes("jsonStream()") && !failed[k]
      ? `; ${(rawIterMs / bestMs[k]).toFixed(2)}x raw + for await` : ""
    const cell = failed[k]
      ? `fails: ${failed[k]} | -`
      : `${Math.round(READ_N / bestMs[k] * 1000).toLocaleString("en")} msgs/s | ${(rawMs / bestMs[k]).toFixed(2)}x raw${perItem}`
    const line = `| catch-up read | ${k} | ${cell} |`
    rows.push(line)
    console.log(line)
  }
  }
  if (only.includes("latency")) {
  console.log(`# live delivery latency (append -> delivered), ${LAT_N} messages, p50 / p90`)
  for (const mode of ["sse", "long-poll"]) {
    const { raw, ours: our } = await latency(server.base, mode)
    for (const [k, v] of [[`raw node:http ${mode}`, raw], [`durastream ${mode}`, our]]) {
      const line = `| ${mode} latency | ${k} | p50 ${v.p50.toFixed(3)} ms, p90 ${v.p90.toFixed(3)} ms | ${(v.p50 - raw.p50 >= 0 ? "+" : "") + (v.p50 - raw.p50).toFixed(3)} ms vs raw |`
      rows.push(line)
      console.log(line)
    }
  }
  }
} finally {
  server.stop()
  agent.destroy()
}
console.log("\n| benchmark | client | result | relative |\n|---|---|---|---|\n" + rows.join("\n"))
process.exit(0)

#!/usr/bin/env node
// State Protocol benchmark, in one run: materializing 1,000,000 change events (100-byte
// values, 10,000 keys, every 100th a delete; chunks of 1,000 events as a follower reads
// them) with @durable-streams/state's MaterializedState (JSON.parse + apply, what its
// StreamDB does per chunk) and with this package (applyJson: the chunk goes to the core
// unparsed; applyBatch: parsed objects, one native call per chunk), then both again from the
// chunk's UTF-8 bytes (npm: toString + JSON.parse; ours: applyJson(Buffer)). Each runs in its own
// process so peak RSS is its own. Then live latency: an event appended through the
// idempotent producer → visible in a StateFollower's state, p50/p99.
//
//   node bench/state.mjs [EVENTS]          (wrap in `flock /work/bench.lock`)
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { dirname, join } from "node:path"

const here = dirname(fileURLToPath(import.meta.url))
const { CHUNK, chunk } = await import(join(here, "..", "..", "tests", "state", "npm", "events.mjs"))

async function materialize(impl, events) {
  let apply, size
  // "-bytes" variants start from the chunk's UTF-8 bytes, as a follower receives them from
  // the network: the npm package decodes them (toString) and parses; ours takes the bytes.
  const bytes = impl.endsWith("-bytes")
  if (bytes) impl = impl.slice(0, -6)
  if (impl === "npm") {
    const npm = await import(join(here, "..", "..", "tests", "state", "npm", "node_modules", "@durable-streams", "state", "dist", "index.js"))
    const s = new npm.MaterializedState()
    apply = (data) => {
      for (const e of JSON.parse(bytes ? data.toString("utf8") : data)) {
        if (npm.isChangeEvent(e)) s.apply(e)
        else if (npm.isControlEvent(e) && e.headers.control === "reset") s.clear()
      }
    }
    size = () => s.getType("row").size
  } else {
    const { MaterializedState } = await import("../lib/state.mjs")
    const s = new MaterializedState()
    apply = impl === "applyJson" ? (data) => s.applyJson(data) : (data) => s.applyBatch(JSON.parse(data))
    size = () => s.size("row")
  }
  // Wall time and CPU time of the process (user + system) spent applying: on a shared
  // machine the CPU time says what the work costs, the wall time what a caller waited.
  let busy = 0n
  let cpu = 0
  for (let start = 0; start < events; start += CHUNK) {
    const text = chunk(start, Math.min(CHUNK, events - start))
    const data = bytes ? Buffer.from(text, "utf8") : text
    const c = process.cpuUsage()
    const t = process.hrtime.bigint()
    apply(data)
    busy += process.hrtime.bigint() - t
    const d = process.cpuUsage(c)
    cpu += d.user + d.system
  }
  const secs = Number(busy) / 1e9
  const cpuSecs = cpu / 1e6
  return {
    events, secs, rate: Math.round(events / secs), cpuSecs, cpuRate: Math.round(events / cpuSecs),
    keys: size(), rssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }
}

async function live(n) {
  const { DurableStream, DurableStreamServer, IdempotentProducer } = await import("../lib/index.mjs")
  const { StateFollower } = await import("../lib/state.mjs")
  const server = new DurableStreamServer({ memory: true })
  await server.start()
  const s = await DurableStream.create({ url: server.streamUrl("live-state"), contentType: "application/json" })
  const p = new IdempotentProducer(s, "bench", { lingerMs: 0 })
  const f = new StateFollower(s, { live: "sse" })
  await f.waitConsistent()
  const it = f[Symbol.asyncIterator]()
  const lat = []
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint()
    p.append(JSON.stringify({ type: "row", key: `k${i % 100}`, value: { i }, headers: { operation: "upsert" } }))
    for (;;) {
      await it.next()
      if (f.state.get("row", `k${i % 100}`)?.i === i) break
    }
    lat.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  f.close()
  await p.close()
  await server.stop()
  lat.sort((a, b) => a - b)
  return { n, p50: lat[Math.floor(n * 0.5)], p99: lat[Math.floor(n * 0.99)] }
}

const mode = process.argv[2]
if (mode === "--child") {
  const [impl, events] = [process.argv[3], Number(process.argv[4])]
  console.log(JSON.stringify(await materialize(impl, events)))
} else if (mode === "--live") {
  console.log(JSON.stringify(await live(Number(process.argv[3] ?? 500))))
} else {
  const events = Number(mode ?? 1_000_000)
  const results = {}
  for (const impl of ["npm", "applyJson", "applyBatch", "npm-bytes", "applyJson-bytes"]) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", impl, String(events)], { encoding: "utf8" })
    if (r.status !== 0) throw new Error(`${impl}: ${r.stderr}`)
    results[impl] = JSON.parse(r.stdout)
    const x = results[impl]
    console.log(`${impl.padEnd(15)} ${x.events} events in ${x.secs.toFixed(3)} s: ${x.rate} events/s (CPU ${x.cpuSecs.toFixed(3)} s: ${x.cpuRate} events/s), ${x.keys} keys, peak RSS ${x.rssMiB} MiB`)
  }
  for (const impl of ["applyJson", "applyBatch", "applyJson-bytes"]) {
    const [r, n] = [results[impl], results[impl.endsWith("-bytes") ? "npm-bytes" : "npm"]]
    console.log(`${impl}: ${(r.rate / n.rate).toFixed(2)}x @durable-streams/state (CPU time: ${(r.cpuRate / n.cpuRate).toFixed(2)}x)`)
  }
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--live", "500"], { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`live: ${r.stderr}`)
  const l = JSON.parse(r.stdout)
  console.log(`live: append -> visible in a follower's state (SSE), ${l.n} events: p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms`)
}

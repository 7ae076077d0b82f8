// The same workload as core/examples/state_materialize.rs, with @durable-streams/state:
// 1,000,000 change events (100-byte values, 10,000 keys) fed as JSON chunks of 1,000
// events; the time counted is JSON.parse of each chunk plus MaterializedState.apply of
// its events (what a follower does per read). Prints events/s and peak RSS.
//
//   node bench.mjs [EVENTS]

import { MaterializedState, isChangeEvent, isControlEvent } from "@durable-streams/state"
import { CHUNK, chunk } from "./events.mjs"

const events = Number(process.argv[2] ?? 1_000_000)
const state = new MaterializedState()
let busy = 0n
let bytes = 0
for (let start = 0; start < events; start += CHUNK) {
  const n = Math.min(CHUNK, events - start)
  const data = chunk(start, n)
  bytes += data.length
  const t = process.hrtime.bigint()
  for (const event of JSON.parse(data)) {
    if (isChangeEvent(event)) state.apply(event)
    else if (isControlEvent(event) && event.headers.control === "reset") state.clear()
  }
  busy += process.hrtime.bigint() - t
}
const secs = Number(busy) / 1e9
const rssMiB = Math.round(process.resourceUsage().maxRSS / 1024)
console.log(
  `@durable-streams/state: ${events} events (${Math.round(bytes / 1e6)} MB of JSON) in ${secs.toFixed(3)} s: ` +
    `${Math.round(events / secs)} events/s; ${state.getType("row").size} keys; peak RSS ${rssMiB} MiB`,
)

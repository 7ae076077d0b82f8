// The events every State Protocol materialization benchmark feeds (this folder's bench.mjs,
// node/bench/state.mjs), byte for byte as core/examples/state_materialize.rs makes them.

export const KEYS = 10_000
export const CHUNK = 1_000

/** Events start..start+n as a JSON array (every 100th after the first KEYS a delete). */
export function chunk(start, n) {
  const parts = []
  for (let i = start; i < start + n; i++) {
    const key = i % KEYS
    if (i >= KEYS && i % 100 === 0) {
      parts.push(`{"type":"row","key":"k${key}","headers":{"operation":"delete"}}`)
      continue
    }
    const op = i < KEYS ? "insert" : "update"
    const head = `{"n":${i},"s":"`
    const pad = "x".repeat(100 - head.length - 2)
    parts.push(`{"type":"row","key":"k${key}","value":${head}${pad}"},"headers":{"operation":"${op}"}}`)
  }
  return `[${parts.join(",")}]`
}

// Applies the events built by durastream's core builders (written by the Rust test
// core/tests/state_agreement.rs) with the npm package, and checks that the npm package
// accepts each one and ends with the state core computed.
//
//   node check-core-events.mjs <core-events.json>

import { readFileSync } from "node:fs"
import { isChangeEvent, isControlEvent } from "@durable-streams/state"
import { materialize, stateValidator } from "./generate.mjs"

const canonical = (v) =>
  JSON.stringify(v, (_, x) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]))
      : x,
  )

const { events, state } = JSON.parse(readFileSync(process.argv[2], "utf8"))
const validate = stateValidator()
let passed = 0
let failed = 0
events.forEach((event, i) => {
  const kind = isChangeEvent(event) ? "change" : isControlEvent(event) ? "control" : null
  if (kind && validate(event)) {
    passed++
  } else {
    failed++
    console.error(`REFUSED: core event ${i} ${JSON.stringify(event)}: ${JSON.stringify(validate.errors)}`)
  }
})
const npm = materialize(events, validate)
if (npm.malformed.length === 0 && canonical(npm.state) === canonical(state)) {
  passed++
} else {
  failed++
  console.error(`DIFFERS: npm state ${canonical(npm.state)} core state ${canonical(state)}`)
}
console.log(`core-events-in-npm: ${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)

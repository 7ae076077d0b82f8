// The live StateFollower in Node: catch up, follow, consistent points, checkpoints,
// malformed events; state written through the idempotent producer.
import { test } from "node:test"
import assert from "node:assert/strict"
import { DurableStream, IdempotentProducer } from "@durastream/client"
import { StateFollower, StateError, createStateSchema } from "@durastream/client/state"
import { useServer } from "./helpers.mjs"

const ctx = useServer()
const any = { "~standard": { version: 1, vendor: "test", validate: (value) => ({ value }) } }
const schema = createStateSchema({ presence: { schema: any, type: "presence", primaryKey: "user" } })

/** Appends each event as one message. */
async function appendAll(s, events) {
  for (const e of events) await s.append(JSON.stringify(e))
}

async function stateStream() {
  return DurableStream.create({ url: ctx.url("state"), contentType: "application/json" })
}

test("catches up, follows live, and shows the state only at consistent points", async () => {
  const s = await stateStream()
  const p = new IdempotentProducer(s, "writer", { lingerMs: 1 })
  p.append(JSON.stringify(schema.presence.insert({ value: { user: "ann", status: "online" } })))
  p.append(JSON.stringify(schema.presence.insert({ value: { user: "bob", status: "online" } })))
  await p.flush()

  const f = new StateFollower(s)
  assert.equal(f.consistent, false)
  assert.equal(await f.waitConsistent(), true)
  assert.deepEqual(f.state.get("presence", "ann"), { user: "ann", status: "online" })
  assert.equal(f.state.size("presence"), 2)
  assert.ok(f.consistent)

  const changes = f.changes()
  p.append(JSON.stringify(schema.presence.update({ value: { user: "ann", status: "away" } })))
  p.append(JSON.stringify(schema.presence.delete({ key: "bob" })))
  await p.flush()
  const a = (await changes.next()).value
  assert.deepEqual(a, { kind: "set", type: "presence", key: "ann", operation: "update",
    value: { user: "ann", status: "away" }, previous: { user: "ann", status: "online" } })
  let b = (await changes.next()).value
  assert.deepEqual(b, { kind: "delete", type: "presence", key: "bob", previous: { user: "bob", status: "online" } })
  assert.equal(f.state.has("presence", "bob"), false)
  assert.deepEqual(f.state.get("presence", "ann").status, "away")
  await changes.return()
  await p.close()
})

test("a snapshot is not consistent until its end; a checkpoint resumes without replay", async () => {
  const s = await stateStream()
  await appendAll(s, [
    { headers: { control: "snapshot-start" } },
    { type: "flag", key: "dark", value: true, headers: { operation: "insert" } },
  ])
  const f = new StateFollower(s, { live: "off" })
  const first = await f.next()
  assert.equal(first.upToDate, true)
  assert.equal(first.consistent, false)
  assert.equal(f.consistent, false)
  assert.equal(await f.next(), null)

  await appendAll(s, [{ headers: { control: "snapshot-end" } }])
  const g = new StateFollower(s, { live: "off" })
  assert.equal(await g.waitConsistent(), true)
  const saved = g.checkpoint()
  assert.equal(JSON.parse(saved).offset, g.offset)

  await appendAll(s, [{ type: "flag", key: "beta", value: false, headers: { operation: "insert" } }])
  const resumed = new StateFollower(s, { live: "off", checkpoint: saved })
  assert.equal(resumed.state.get("flag", "dark"), true, "the checkpoint's state before any read")
  const u = await resumed.next()
  assert.deepEqual(u.changes.map((c) => c.key), ["beta"], "only the tail is read")
  assert.deepEqual(resumed.state.toJSON(), { flag: { beta: false, dark: true } })
  assert.throws(() => new StateFollower(s, { checkpoint: "{}" }), (e) => e instanceof StateError && e.code === "BAD_CHECKPOINT")
})

test("malformed events are skipped and reported, or stop the follower", async () => {
  const s = await stateStream()
  await appendAll(s, [
    { type: "t", key: "a", value: 1, headers: { operation: "insert" } },
    { type: "t", key: "b", headers: { operation: "teleport" } },
    { type: "t", key: "c", value: 3, headers: { operation: "insert" } },
  ])
  const reported = []
  const skip = new StateFollower(s, { live: "off", onMalformed: (e) => reported.push(e) })
  const u = await skip.next()
  assert.equal(u.changes.length, 2)
  assert.equal(u.malformed[0].field, "headers.operation")
  assert.equal(u.malformed[0].index, 1)
  assert.equal(reported.length, 1)
  assert.deepEqual(skip.state.toJSON(), { t: { a: 1, c: 3 } })

  const stop = new StateFollower(s, { live: "off", malformed: "stop" })
  await assert.rejects(stop.next(), (e) => e instanceof StateError && e.code === "MALFORMED_EVENT")
  await assert.rejects(stop.next(), (e) => e instanceof StateError && e.code === "STOPPED")
  assert.deepEqual(stop.state.toJSON(), {})
})

test("close() ends a live follower's iteration", async () => {
  const s = await stateStream()
  const f = new StateFollower(s, { live: "long-poll" })
  setTimeout(() => f.close(), 100)
  const updates = []
  for await (const u of f) updates.push(u)
  assert.ok(updates.length <= 1)
})

test("a missing stream is the client's StreamNotFoundError", async () => {
  const f = new StateFollower(ctx.url("missing"), { live: "off" })
  await assert.rejects(f.next(), (e) => e.name === "StreamNotFoundError")
})

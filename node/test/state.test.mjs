// The State Protocol in Node: MaterializedState, createStateSchema, the type guards,
// StateError, and agreement with @durable-streams/state on the shared fixtures
// (tests/state/fixtures) in both directions.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, readdirSync, existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  MaterializedState, StateError, createStateSchema, isChangeEvent, isControlEvent, validateEvent,
} from "@durastream/client/state"
import * as root from "@durastream/client"

const here = dirname(fileURLToPath(import.meta.url))
// The repo's tests/state; named by DURASTREAM_STATE_DIR when this file runs from a copy
// (tests/install-check/node.sh).
const stateDir = process.env.DURASTREAM_STATE_DIR ?? join(here, "..", "..", "tests", "state")
const fixturesDir = join(stateDir, "fixtures")
const npmDir = join(stateDir, "npm")

/** Numbers compare by value; objects by keys in any order; empty types are no state. */
function same(a, b) {
  if (typeof a === "number" && typeof b === "number") return a === b
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && same(a[k], b[k]))
  }
  return a === b
}

const withoutEmptyTypes = (state) =>
  Object.fromEntries(Object.entries(state).filter(([, keys]) => Object.keys(keys).length > 0))

/** A tiny Standard Schema validator (what zod, valibot or arktype provide). */
function schemaOf(check) {
  return {
    "~standard": {
      version: 1,
      vendor: "test",
      validate: (value) => (check(value) ? { value } : { issues: [{ message: "not valid" }] }),
    },
  }
}

const fixtures = readdirSync(fixturesDir).filter((f) => f.endsWith(".json")).sort()

test("the state entry is also exported from the package root", () => {
  assert.equal(root.MaterializedState, MaterializedState)
  assert.equal(root.StateError, StateError)
})

test("every shared fixture materializes to its expected result", () => {
  assert.ok(fixtures.length >= 10, `fixtures: ${fixtures}`)
  for (const name of fixtures) {
    const f = JSON.parse(readFileSync(join(fixturesDir, name), "utf8"))
    const s = new MaterializedState()
    const r = s.applyJson(JSON.stringify(f.events), { malformed: "skip" })
    assert.deepEqual(r.malformed.map((e) => e.index), f.expected.malformed, name)
    for (const e of r.malformed) {
      assert.ok(e instanceof StateError, name)
      assert.equal(e.code, "MALFORMED_EVENT", name)
      assert.equal(typeof e.field, "string", name)
    }
    assert.ok(same(s.toJSON(), withoutEmptyTypes(f.expected.state)), `${name}: ${JSON.stringify(s.toJSON()).slice(0, 300)}`)
  }
})

test("apply, applyBatch, get, getType, types and clear as in @durable-streams/state", () => {
  const s = new MaterializedState()
  s.apply({ type: "user", key: "1", value: { name: "Ann" }, headers: { operation: "insert" } })
  s.applyBatch([
    { type: "user", key: "2", value: { name: "Bob" }, headers: { operation: "insert" } },
    { type: "user", key: "1", value: { name: "Ann B." }, old_value: { name: "Ann" }, headers: { operation: "update" } },
    { type: "room", key: "r", value: 1, headers: { operation: "upsert" } },
    { type: "user", key: "2", headers: { operation: "delete" } },
  ])
  assert.deepEqual(s.get("user", "1"), { name: "Ann B." })
  assert.equal(s.get("user", "2"), undefined)
  assert.equal(s.get("nope", "x"), undefined)
  assert.deepEqual([...s.getType("user")], [["1", { name: "Ann B." }]])
  assert.equal(s.getType("nope").size, 0)
  assert.deepEqual(s.types, ["room", "user"])
  assert.equal(s.typeCount, 2)
  assert.equal(s.size("user"), 1)
  assert.ok(s.has("room", "r"))
  s.apply({ headers: { control: "reset" } })
  assert.equal(s.typeCount, 0)
  s.apply({ type: "t", key: "k", value: 1, headers: { operation: "insert" } })
  s.clear()
  assert.deepEqual(s.toJSON(), {})
})

test("a malformed event throws a StateError naming the field and applies nothing", () => {
  const s = new MaterializedState()
  assert.throws(
    () => s.applyBatch([
      { type: "t", key: "a", value: 1, headers: { operation: "insert" } },
      { type: "t", key: "b", value: 1, headers: { operation: "explode" } },
    ]),
    (e) => e instanceof StateError && e.code === "MALFORMED_EVENT" && e.field === "headers.operation" && e.index === 1,
  )
  assert.equal(s.typeCount, 0)
  assert.throws(() => s.applyJson("{not json"), (e) => e instanceof StateError && e.field === "")
  assert.throws(() => s.applyJson("[]", { malformed: "maybe" }), (e) => e.code === "INVALID_ARGUMENT")
  const r = s.applyJson('[{"type":"t","key":"","headers":{"operation":"delete"}},{"type":"t","key":"k","value":2,"headers":{"operation":"insert"}}]', { malformed: "skip" })
  assert.equal(r.applied, 1)
  assert.equal(r.malformed[0].field, "key")
  assert.equal(s.get("t", "k"), 2)
  assert.throws(() => validateEvent({ type: "t", key: "k", headers: { operation: "insert" } }), (e) => e.field === "value")
  validateEvent({ headers: { control: "snapshot-start", offset: "1" } })
})

test("listeners receive every change with its previous value", () => {
  const s = new MaterializedState()
  const seen = []
  const off = s.subscribe((changes) => seen.push(...changes))
  s.apply({ type: "p", key: "ann", value: { on: true }, headers: { operation: "insert" } })
  s.apply({ type: "p", key: "ann", value: { on: false }, headers: { operation: "update" } })
  s.applyJson('[{"type":"p","key":"ann","headers":{"operation":"delete"}},{"type":"p","key":"bob","headers":{"operation":"delete"}},{"headers":{"control":"snapshot-start","offset":"9"}}]')
  off()
  s.apply({ type: "p", key: "x", value: 1, headers: { operation: "insert" } })
  assert.deepEqual(seen, [
    { kind: "set", type: "p", key: "ann", operation: "insert", value: { on: true } },
    { kind: "set", type: "p", key: "ann", operation: "update", value: { on: false }, previous: { on: true } },
    { kind: "delete", type: "p", key: "ann", previous: { on: false } },
    { kind: "delete", type: "p", key: "bob" },
    { kind: "snapshot-start", offset: "9" },
  ])
  assert.ok(s.inSnapshot)
})

test("fromJSON restores a state saved with toJSON", () => {
  const s = new MaterializedState()
  s.apply({ type: "flag", key: "dark", value: true, headers: { operation: "insert" } })
  const back = MaterializedState.fromJSON(JSON.stringify(s.toJSON()))
  assert.equal(back.get("flag", "dark"), true)
  assert.throws(() => MaterializedState.fromJSON("[1]"), (e) => e.code === "BAD_CHECKPOINT")
})

test("type guards", () => {
  const change = { type: "t", key: "k", value: 1, headers: { operation: "insert" } }
  const control = { headers: { control: "reset" } }
  assert.ok(isChangeEvent(change) && !isControlEvent(change))
  assert.ok(isControlEvent(control) && !isChangeEvent(control))
  assert.ok(!isChangeEvent(null))
})

const userSchema = schemaOf((v) => typeof v?.id === "string" && typeof v?.name === "string")

test("createStateSchema helpers build events the core accepts, with npm's errors", () => {
  const schema = createStateSchema({
    users: { schema: userSchema, type: "user", primaryKey: "id" },
    messages: { schema: schemaOf(() => true), type: "message", primaryKey: "id" },
  })
  assert.equal(schema.users.type, "user")
  assert.deepEqual(schema.users.insert({ value: { id: "u1", name: "Ann" }, headers: { txid: "t1" } }), {
    type: "user", key: "u1", value: { id: "u1", name: "Ann" }, headers: { operation: "insert", txid: "t1" },
  })
  assert.deepEqual(schema.users.update({ value: { id: "u1", name: "B" }, oldValue: { id: "u1", name: "A" } }), {
    type: "user", key: "u1", value: { id: "u1", name: "B" }, old_value: { id: "u1", name: "A" }, headers: { operation: "update" },
  })
  assert.deepEqual(schema.users.delete({ oldValue: { id: "u1", name: "B" } }).key, "u1")
  assert.equal(schema.users.upsert({ key: "k", value: { id: "x", name: "y" } }).headers.operation, "upsert")
  assert.throws(() => schema.users.insert({ value: { id: 1 } }), /Validation failed for user insert: not valid/)
  assert.throws(() => schema.messages.insert({ value: { text: "no id" } }), /must provide either 'key'/)
  assert.throws(() => schema.users.insert({ value: { id: "u", name: "n" }, headers: { timestamp: "yesterday" } }),
    (e) => e instanceof StateError && e.field === "headers.timestamp")
  assert.throws(() => createStateSchema({ actions: { schema: userSchema, type: "a", primaryKey: "id" } }), /Reserved collection name/)
  assert.throws(() => createStateSchema({
    a: { schema: userSchema, type: "same", primaryKey: "id" }, b: { schema: userSchema, type: "same", primaryKey: "id" },
  }), /Duplicate event type "same"/)
})

// Events written here are read by the npm package (and npm-helpers.json, read above,
// covers the other direction). Needs tests/state/npm installed (node/test.sh does it).
test("events built by these helpers are accepted and materialized alike by @durable-streams/state", async () => {
  assert.ok(existsSync(join(npmDir, "node_modules", "@durable-streams", "state")), "run npm ci in tests/state/npm (node/test.sh does)")
  const npm = await import(join(npmDir, "node_modules", "@durable-streams", "state", "dist", "index.js"))
  const { materialize, stateValidator } = await import(join(npmDir, "generate.mjs"))
  const schema = createStateSchema({
    users: { schema: userSchema, type: "user", primaryKey: "id" },
    rooms: { schema: schemaOf(() => true), type: "room", primaryKey: "name" },
  })
  const events = [
    schema.users.insert({ value: { id: "u1", name: "Ann" }, headers: { txid: "t1", timestamp: "2025-01-15T10:30:00Z" } }),
    schema.users.insert({ value: { id: "u2", name: "Bob" } }),
    schema.rooms.upsert({ value: { name: "lobby", big: 12345678901234, nested: { a: [1, "b", null] } } }),
    schema.users.update({ value: { id: "u1", name: "Ann B." }, oldValue: { id: "u1", name: "Ann" } }),
    schema.users.delete({ key: "u2" }),
    schema.users.delete({ key: "never-there" }),
    { headers: { control: "snapshot-start", offset: "0_1" } },
    schema.rooms.insert({ key: "ünï", value: { name: "x", text: "\u0000 \" \\ \n" } }),
    { headers: { control: "snapshot-end", offset: "0_2" } },
  ]
  const validate = stateValidator()
  events.forEach((e, i) => {
    assert.ok(npm.isChangeEvent(e) || npm.isControlEvent(e), `event ${i}`)
    assert.ok(validate(e), `event ${i}: ${JSON.stringify(validate.errors)}`)
  })
  const ours = new MaterializedState()
  ours.applyBatch(events)
  const theirs = materialize(events, validate)
  assert.deepEqual(theirs.malformed, [])
  assert.ok(same(ours.toJSON(), withoutEmptyTypes(theirs.state)), JSON.stringify(theirs.state))
})

// The State Protocol: the db-free API of @durable-streams/state (MaterializedState,
// createStateSchema, the type guards) plus a live StateFollower, over durastream's core.
// Every rule (validation, materialization, snapshots, resets) runs in the core; this file
// converts between JavaScript values and JSON text and keeps listeners.
"use strict"
const { native, sync } = require("./call.cjs")
const { fromNative, StateError } = require("./errors.cjs")

/** Type guard: a change event (its headers carry `operation`). */
function isChangeEvent(event) {
  return event != null && typeof event.headers === "object" && event.headers !== null &&
    "operation" in event.headers
}

/** Type guard: a control event (its headers carry `control`). */
function isControlEvent(event) {
  return event != null && typeof event.headers === "object" && event.headers !== null &&
    "control" in event.headers
}

// Text goes to the core as UTF-8 written into one reused buffer (one pass, no allocation
// per call); the native call is synchronous and keeps no reference to it.
const encoder = new TextEncoder()
const SCRATCH_MAX = 4 * 1024 * 1024
let scratch = Buffer.allocUnsafeSlow(64 * 1024)

function utf8(text) {
  let buf = scratch
  if (buf.length < text.length) buf = Buffer.allocUnsafeSlow(text.length + (text.length >> 2))
  let r = encoder.encodeInto(text, buf)
  if (r.read < text.length) {
    buf = Buffer.allocUnsafeSlow(text.length * 3)
    r = encoder.encodeInto(text, buf)
  }
  if (buf.length <= SCRATCH_MAX) scratch = buf
  return buf.subarray(0, r.written)
}

const decodeError = (text) => fromNative({ message: `\u0000durastream:${text}` })

/** A change as JavaScript values (values parsed from the core's JSON). */
function changesOf(json) {
  return JSON.parse(json)
}

/** Read-only queries shared by MaterializedState and a follower's state. */
class StateReader {
  /** @internal */
  _n() {
    throw new Error("abstract")
  }

  /** The value at `type`/`key`, or `undefined`. */
  get(type, key) {
    const text = this._n().get(String(type), String(key))
    return text === null ? undefined : JSON.parse(text)
  }

  /** True when `type`/`key` is present. */
  has(type, key) {
    return this._n().has(String(type), String(key))
  }

  /** Every entity of a type as a Map (sorted by key; empty when the type has none). */
  getType(type) {
    return new Map(JSON.parse(this._n().entries(String(type))))
  }

  /** The number of entities of a type. */
  size(type) {
    return this._n().size(String(type))
  }

  /** The number of types holding at least one entity. */
  get typeCount() {
    return this._n().types().length
  }

  /** The types holding at least one entity, sorted. */
  get types() {
    return this._n().types()
  }

  /** True between a `snapshot-start` and its `snapshot-end`. */
  get inSnapshot() {
    return this._n().inSnapshot
  }

  /** The state as a plain object `{type: {key: value}}`, sorted. */
  toJSON() {
    return JSON.parse(this._n().toJson())
  }
}

/**
 * The materialized state of a State Protocol stream: type → key → value. The API of
 * `@durable-streams/state`'s MaterializedState; events are validated and applied by the
 * core (a malformed event throws a StateError naming the field, and a batch holding one
 * applies nothing). Control events apply too: `reset` clears the state.
 */
class MaterializedState extends StateReader {
  #n = new native.NativeState()
  #listeners = new Set()

  /** @internal */
  _n() {
    return this.#n
  }

  /** Applies one event. */
  apply(event) {
    this.applyBatch([event])
  }

  /** Applies events in order: one native call for the whole array. */
  applyBatch(events) {
    this.applyJson(JSON.stringify(events))
  }

  /**
   * Applies a JSON array of events given as text or bytes (a read chunk of a JSON
   * stream), without parsing it in JavaScript. `malformed: "skip"` skips malformed events
   * and returns them as StateErrors; the default throws on the first and applies nothing.
   */
  applyJson(data, opts = {}) {
    const want = this.#listeners.size > 0
    const bytes = typeof data === "string" ? utf8(data) : data
    const r = sync(() => this.#n.applyJson(bytes, opts.malformed ?? "stop", want))
    if (want) this.#emit(changesOf(r.changes))
    return { applied: r.applied, malformed: r.malformed.map(decodeError) }
  }

  /** Removes every entity. */
  clear() {
    this.#n.clear()
    if (this.#listeners.size) this.#emit([{ kind: "reset" }])
  }

  /**
   * Calls `listener(changes)` after each apply with what it did: `{kind: "set", type, key,
   * operation, value, previous}`, `{kind: "delete", type, key, previous}`, `{kind:
   * "reset" | "snapshot-start" | "snapshot-end", offset}`. Returns an unsubscribe function.
   */
  subscribe(listener) {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #emit(changes) {
    if (!changes.length) return
    for (const l of this.#listeners) l(changes)
  }

  /** A state restored from `toJSON()` output (or its JSON text). */
  static fromJSON(json) {
    const s = new MaterializedState()
    s.#n = sync(() => new native.NativeState(typeof json === "string" ? json : JSON.stringify(json)))
    return s
  }
}

/** A follower's state at its last up-to-date batch (read-only). */
class StateView extends StateReader {
  #n
  /** @internal */
  constructor(n) {
    super()
    this.#n = n
  }

  /** @internal */
  _n() {
    return this.#n
  }
}

const RESERVED = new Set(["collections", "preload", "close", "utils", "actions"])

function validated(schema, value, what) {
  const r = schema["~standard"].validate(value)
  if (r && typeof r.then === "function") {
    throw new TypeError(`${what}: the schema validates asynchronously; event helpers need a synchronous schema`)
  }
  if (r.issues) {
    const msg = r.issues.map((i) => i.message).join(", ") || "Unknown validation error"
    throw new Error(`Validation failed for ${what}: ${msg}`)
  }
  return "value" in r ? r.value : value
}

function keyOf(value, primaryKey) {
  const k = value?.[primaryKey]
  return k != null && k !== "" ? String(k) : undefined
}

function build(op, type, key, value, oldValue, headers) {
  const text = sync(() => native.buildChangeEvent(
    op, type, key,
    value === undefined ? null : JSON.stringify(value),
    oldValue === undefined ? null : JSON.stringify(oldValue),
    headers ? JSON.stringify(headers) : null,
  ))
  return JSON.parse(text)
}

function helpers(type, primaryKey, schema) {
  const change = (op) => ({ key, value, oldValue, headers }) => {
    const what = `${type} ${op}`
    if (op !== "delete") validated(schema, value, what)
    if (oldValue !== undefined) validated(schema, oldValue, `${what} (oldValue)`)
    const finalKey = key ?? (op === "delete" ? keyOf(oldValue, primaryKey) : keyOf(value, primaryKey))
    if (finalKey == null || finalKey === "") {
      const from = op === "delete" ? `'oldValue' with a ${primaryKey} field` : `a value with a non-empty '${primaryKey}' field`
      throw new Error(`Cannot create ${what} event: must provide either 'key' or ${from}`)
    }
    return build(op, type, finalKey, op === "delete" ? undefined : value,
      op === "update" || op === "delete" ? oldValue : undefined, headers)
  }
  return { insert: change("insert"), update: change("update"), delete: change("delete"), upsert: change("upsert") }
}

/**
 * Collections with typed event helpers, as `@durable-streams/state`'s createStateSchema:
 * `{name: {schema, type, primaryKey}}` → each with `insert`, `update`, `delete`, `upsert`.
 * Values are checked by the Standard Schema validator; events are built and checked by the
 * core.
 */
function createStateSchema(collections) {
  for (const name of Object.keys(collections)) {
    if (RESERVED.has(name)) {
      throw new Error(`Reserved collection name "${name}" - this would collide with StreamDB properties (${[...RESERVED].join(", ")})`)
    }
  }
  const seen = new Map()
  for (const [name, def] of Object.entries(collections)) {
    if (seen.has(def.type)) {
      throw new Error(`Duplicate event type "${def.type}" - used by both "${seen.get(def.type)}" and "${name}" collections`)
    }
    seen.set(def.type, name)
  }
  const out = {}
  for (const [name, def] of Object.entries(collections)) {
    out[name] = { ...def, ...helpers(def.type, def.primaryKey, def.schema) }
  }
  return out
}

/** Checks one event against the State Protocol; throws a StateError naming the field. */
function validateEvent(event) {
  sync(() => native.validateStateEvent(typeof event === "string" ? event : JSON.stringify(event)))
}

/**
 * Follows a State Protocol stream: catches up, then follows live, applying events in
 * order. `for await (const update of follower)` yields each applied batch; `changes()`
 * yields each change. `state` is the state at the last up-to-date batch; `consistent`
 * says it was also outside a snapshot.
 *
 * Options: `checkpoint` (from `checkpoint()`, resumes without replaying), `live`
 * (`auto` default, `sse`, `long-poll`, `off`: stop once caught up), `malformed`
 * (`skip` default, or `stop`), `onMalformed(error)`.
 */
class StateFollower {
  #n
  #onMalformed

  constructor(stream, opts = {}) {
    const handle = typeof stream === "string" ? new (require("./stream.cjs").DurableStream)({ url: stream }) : stream
    const n = handle._native(opts.headers ? { headers: opts.headers } : undefined)
    this.#n = sync(() => new native.NativeStateFollower(n, opts.checkpoint ?? null, opts.live ?? "auto", opts.malformed ?? "skip"))
    this.#onMalformed = opts.onMalformed
  }

  /** The next applied batch `{changes, malformed, offset, upToDate, consistent, closed}`, or null at the end. */
  async next() {
    let u
    try {
      u = await this.#n.next()
    } catch (e) {
      const err = fromNative(e)
      if (this.#onMalformed && err instanceof StateError && err.code === "MALFORMED_EVENT") this.#onMalformed(err)
      throw err
    }
    if (u === null) return null
    const malformed = u.malformed.map(decodeError)
    if (this.#onMalformed) malformed.forEach((e) => this.#onMalformed(e))
    return {
      changes: changesOf(u.changes), malformed, offset: u.offset,
      upToDate: u.upToDate, consistent: u.consistent, closed: u.closed,
    }
  }

  /** Applies batches until the state is consistent; false when the stream ended first. */
  async waitConsistent() {
    if (this.consistent) return true
    for (;;) {
      const u = await this.next()
      if (u === null) return false
      if (u.consistent) return true
    }
  }

  /** The state at the last up-to-date batch. */
  get state() {
    return new StateView(this.#n.view())
  }

  /** The offset of `state`. */
  get offset() {
    return this.#n.offset
  }

  /** True when `state` is consistent: up to date and outside a snapshot. */
  get consistent() {
    return this.#n.consistent
  }

  /** `state` and its offset as a checkpoint (JSON text) to pass as `checkpoint` later. */
  checkpoint() {
    return this.#n.checkpoint()
  }

  /** Each change, one at a time, until the stream ends or `close()`. */
  async *changes() {
    for await (const u of this) yield* u.changes
  }

  async *[Symbol.asyncIterator]() {
    try {
      for (;;) {
        const u = await this.next()
        if (u === null) return
        yield u
      }
    } finally {
      this.close()
    }
  }

  /** Stops following: a pending `next()` resolves null, the connection closes. */
  close() {
    this.#n.cancel()
  }
}

module.exports = {
  MaterializedState,
  StateView,
  StateFollower,
  createStateSchema,
  isChangeEvent,
  isControlEvent,
  validateEvent,
  StateError,
}

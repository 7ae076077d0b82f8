// The State Protocol entry of @durastream/client: the db-free API of
// @durable-streams/state, plus a live StateFollower. Implemented over durastream's core.
import type { DurableStream, DurableStreamError } from "./index"

/** Operation of a change event (`upsert` as written by the helpers). */
export type Operation = "insert" | "update" | "delete" | "upsert"
/** A JSON value. */
export type Value<Extensions = never> = string | number | boolean | bigint | null | Array<Value<Extensions>> | { [key: string]: Value<Extensions> } | Extensions
/** A row: a record of values. */
export type Row<Extensions = never> = Record<string, Value<Extensions>>
/** Headers of a change event. */
export type ChangeHeaders = { operation: Operation; txid?: string; timestamp?: string; from?: string; offset?: string }
/** A change event (insert, update, delete, upsert of `type`/`key`). */
export type ChangeEvent<T = unknown> = { type: string; key: string; value?: T; old_value?: T; headers: ChangeHeaders }
/** A control event: a snapshot boundary or a reset. */
export type ControlEvent = { headers: { control: "snapshot-start" | "snapshot-end" | "reset"; offset?: string } }
/** Any State Protocol event. */
export type StateEvent<T = unknown> = ChangeEvent<T> | ControlEvent

/** Type guard: a change event. */
export declare function isChangeEvent<T = unknown>(event: StateEvent<T>): event is ChangeEvent<T>
/** Type guard: a control event. */
export declare function isControlEvent<T = unknown>(event: StateEvent<T>): event is ControlEvent
/** Checks one event against the State Protocol; throws a StateError naming the field. */
export declare function validateEvent(event: StateEvent | string): void

/** A State Protocol error: `code` is MALFORMED_EVENT, DECODE_ERROR, INVALID_ARGUMENT, BAD_CHECKPOINT or STOPPED. */
export declare class StateError extends DurableStreamError {
  /** The field at fault (`type`, `key`, `value`, `headers.operation`, ...; `""` for the event). */
  field?: string
  /** The event's position in its batch. */
  index?: number
  /** The stream offset of the batch holding the event (followers). */
  offset?: string
}

/** What applying one event did. */
export type Change =
  | { kind: "set"; type: string; key: string; operation: Operation; value: unknown; previous?: unknown }
  | { kind: "delete"; type: string; key: string; previous?: unknown }
  | { kind: "reset" | "snapshot-start" | "snapshot-end"; offset?: string }

/** Read-only queries on a materialized state. */
export declare class StateReader {
  get<T = unknown>(type: string, key: string): T | undefined
  has(type: string, key: string): boolean
  getType(type: string): Map<string, unknown>
  size(type: string): number
  get typeCount(): number
  get types(): Array<string>
  get inSnapshot(): boolean
  toJSON(): Record<string, Record<string, unknown>>
}

/** type → key → value, built by the core from events in order. */
export declare class MaterializedState extends StateReader {
  constructor()
  apply(event: StateEvent): void
  applyBatch(events: Array<StateEvent>): void
  /** Applies a JSON array of events (text or bytes) without parsing it in JavaScript. */
  applyJson(data: string | Uint8Array, opts?: { malformed?: "stop" | "skip" }): { applied: number; malformed: StateError[] }
  clear(): void
  subscribe(listener: (changes: Change[]) => void): () => void
  static fromJSON(json: string | Record<string, Record<string, unknown>>): MaterializedState
}

/** A follower's state at its last up-to-date batch. */
export declare class StateView extends StateReader {}

/** One batch applied by a follower. */
export interface StateUpdate {
  changes: Change[]
  malformed: StateError[]
  offset: string
  upToDate: boolean
  consistent: boolean
  closed: boolean
}

export interface StateFollowerOptions {
  /** A checkpoint saved by `checkpoint()`: resume without replaying the stream. */
  checkpoint?: string
  live?: "auto" | "sse" | "long-poll" | "off"
  malformed?: "skip" | "stop"
  onMalformed?: (error: StateError) => void
  headers?: Record<string, string>
}

/** Follows a State Protocol stream live; async-iterable over applied batches. */
export declare class StateFollower implements AsyncIterable<StateUpdate> {
  constructor(stream: DurableStream | string, opts?: StateFollowerOptions)
  next(): Promise<StateUpdate | null>
  waitConsistent(): Promise<boolean>
  get state(): StateView
  get offset(): string
  get consistent(): boolean
  checkpoint(): string
  changes(): AsyncGenerator<Change>
  [Symbol.asyncIterator](): AsyncGenerator<StateUpdate>
  close(): void
}

/** Standard Schema (v1), the part the helpers use. */
export interface StandardSchemaV1<T = unknown> {
  readonly "~standard": {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => { value: T; issues?: undefined } | { issues: ReadonlyArray<{ message: string }> } | Promise<unknown>
  }
}
export interface CollectionDefinition<T = unknown> { schema: StandardSchemaV1<T>; type: string; primaryKey: string }
export interface CollectionEventHelpers<T> {
  insert: (params: { key?: string; value: T; headers?: Omit<Record<string, string>, "operation"> }) => ChangeEvent<T>
  update: (params: { key?: string; value: T; oldValue?: T; headers?: Omit<Record<string, string>, "operation"> }) => ChangeEvent<T>
  delete: (params: { key?: string; oldValue?: T; headers?: Omit<Record<string, string>, "operation"> }) => ChangeEvent<T>
  upsert: (params: { key?: string; value: T; headers?: Omit<Record<string, string>, "operation"> }) => ChangeEvent<T>
}
export type CollectionWithHelpers<T = unknown> = CollectionDefinition<T> & CollectionEventHelpers<T>
export type StreamStateDefinition = Record<string, CollectionDefinition>
export type StateSchema<T extends Record<string, CollectionDefinition>> = {
  [K in keyof T]: CollectionWithHelpers<T[K] extends CollectionDefinition<infer U> ? U : unknown>
}
export declare function createStateSchema<T extends Record<string, CollectionDefinition>>(collections: T): StateSchema<T>

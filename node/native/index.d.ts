/**
 * Cancels the native calls it is passed to. The JavaScript layer makes one per
 * `AbortSignal` and calls [`CancelToken::cancel`] when the signal aborts.
 */
export declare class CancelToken {
  /** A token that is not cancelled yet. */
  constructor()
  /** Cancels every call using this token: pending ones settle with an `AbortError`. */
  cancel(): void
  /** True once [`CancelToken::cancel`] was called. */
  get cancelled(): boolean
}

/**
 * A configured client: headers and query parameters (fixed, or functions evaluated per
 * request), retry policy and time limits, over the process-wide connection pool.
 */
export declare class NativeClient {
  /** Builds a client; invalid retry options or time limits throw `InvalidArgumentError`. */
  constructor(config?: ClientConfig | undefined | null)
  /** Sets a fixed header sent on every request. */
  setHeader(name: string, value: string): void
  /** Sets a header computed by `f` on every request (first attempts, retries, reconnects). */
  setHeaderFn(name: string, f: ValueFn): void
  /** Sets a fixed query parameter sent on every request. */
  setParam(name: string, value: string): void
  /** Sets a query parameter computed by `f` on every request. */
  setParamFn(name: string, f: ValueFn): void
  /** Removes every header and parameter. */
  clear(): void
  /** A handle on the stream at `url` (no request is sent). */
  stream(url: string): NativeStream
}

/** An idempotent producer. See the module docs. */
export declare class NativeProducer {
  /**
   * Queues one item (text or bytes; on a JSON stream one JSON value). Never waits;
   * throws `BufferFullError` past `maxBufferedBytes`, or the producer's fatal error.
   */
  append(item: Body): void
  /** Queues many items at once (same rules as `append`). */
  appendMany(items: Array<string>): void
  /** Like `append`, but waits for buffer room instead of throwing `BufferFullError`. */
  appendWait(item: Body, cancel: CancelToken): Promise<void>
  /** Sends everything queued and waits until it is acknowledged. */
  flush(cancel: CancelToken): Promise<void>
  /**
   * Flushes, then closes the stream through the producer (idempotent), optionally with
   * a final message. Resolves to the final offset.
   */
  close(body: Body | undefined | null, cancel: CancelToken): Promise<string>
  /** Flushes, then stops the producer without closing the stream. */
  detach(cancel: CancelToken): Promise<void>
  /** Starts a new epoch at sequence 0, clearing a fatal error. Resolves to the epoch. */
  restart(cancel: CancelToken): Promise<number>
  /** The producer id. */
  get id(): string
  /** The current epoch. */
  get epoch(): number
  /** The next sequence number to be assigned. */
  get nextSeq(): number
  /** The tail offset from the last acknowledged batch. */
  get lastOffset(): string | null
  /** Bytes appended but not yet acknowledged. */
  get bufferedBytes(): number
  /** Items appended and not yet acknowledged (the core's `pending_items`). */
  get pendingCount(): number
  /** Batches sent and waiting for the server's answer. */
  get inFlightCount(): number
  /** The fatal error that stopped the producer (encoded), if any. */
  get error(): string | null
}

/** A reader pulled from JavaScript. See the module docs. */
export declare class NativeReader {
  /**
   * The next chunk, or `null` once the reader has ended or was cancelled. An error does
   * not end the reader: calling again resumes from the same offset.
   */
  next(): Promise<NativeChunk | null>
  /** Whether later chunks are checked as JSON before delivery (off at first). */
  setCheckJson(on: boolean): void
  /**
   * Checks that a chunk delivered unchecked holds a JSON array of messages; throws the
   * reader's parse error if not.
   */
  checkJsonData(data: Uint8Array): void
  /**
   * Where to cut a JSON chunk into pieces of about `pieceBytes` bytes of whole messages
   * (piece `i` is `data[b[i] + 1 .. b[i + 1]]`), so that it can be parsed a piece at a
   * time; `null` when it should be parsed whole. Each piece must still be parsed (the
   * cut does not validate the messages).
   */
  splitJson(data: Uint8Array, pieceBytes: number): Array<number> | null
  /** Stops the reader: a pending `next()` resolves `null`, the connection is dropped. */
  cancel(): void
  /** The offset the reader resumes from (after the last chunk delivered). */
  get offset(): string
}

/** A running in-process server. */
export declare class NativeServer {
  /** Starts a server; resolves once it accepts connections. */
  static start(config?: ServerConfig | undefined | null): Promise<NativeServer>
  /** The root URL (`http://127.0.0.1:PORT`, no trailing slash). */
  get url(): string
  /** The stream prefix (`/v1/stream`, or `""`). */
  get prefix(): string
  /** Stops the server gracefully. Stopping twice is harmless. */
  stop(): Promise<void>
}

/** Core's materialized state. Shared views (from a follower) are copied on first write. */
export declare class NativeState {
  /** An empty state, or the state saved by `toJson`. */
  constructor(json?: string | undefined | null)
  /**
   * Applies a JSON array of events. `malformed`: `"stop"` (default: a malformed event
   * throws and nothing of the batch is applied) or `"skip"` (skipped and reported).
   */
  applyJson(data: JsonInput, malformed?: string | undefined | null, changes?: boolean | undefined | null): NativeApplied
  /** The value at `type`/`key` as JSON text, or `null`. */
  get(entityType: string, key: string): string | null
  /** The entities of a type as a JSON array of `[key, value]` pairs, sorted by key. */
  entries(entityType: string): string
  /** True when `type`/`key` is present. */
  has(entityType: string, key: string): boolean
  /** The number of entities of a type. */
  size(entityType: string): number
  /** The types holding at least one entity, sorted. */
  types(): Array<string>
  /** The number of entities of every type. */
  get total(): number
  /** True inside an open snapshot. */
  get inSnapshot(): boolean
  /** Removes every entity. */
  clear(): void
  /** The whole state as sorted JSON `{type: {key: value}}`. */
  toJson(): string
}

/** A live follower of a State Protocol stream (core's `SharedFollower`). */
export declare class NativeStateFollower {
  /**
   * Follows `stream` from `checkpoint` (JSON saved by `checkpoint()`) or the beginning,
   * in `live` mode (`auto`, `sse`, `long-poll`, `off`); malformed events `"skip"`
   * (default) or `"stop"`.
   */
  constructor(stream: NativeStream, checkpoint?: string | undefined | null, live?: string | undefined | null, malformed?: string | undefined | null)
  /** The next applied batch, or `null` once the stream ended or `cancel()` was called. */
  next(): Promise<NativeStateUpdate | null>
  /** The state after the last up-to-date batch (a read-only copy shared with the follower). */
  view(): NativeState
  /** The offset of [`NativeStateFollower::view`]. */
  get offset(): string
  /** True when the view is consistent (up to date, outside a snapshot). */
  get consistent(): boolean
  /** The view as a checkpoint (JSON) to resume from. */
  checkpoint(): string
  /** Stops following: a pending `next()` resolves `null`, the connection is dropped. */
  cancel(): void
}

/** A handle on one stream. */
export declare class NativeStream {
  /** The stream URL. */
  get url(): string
  /** The content type, when known. */
  get contentType(): string | null
  /** Tells the handle the stream's content type (spares a HEAD before appends). */
  setContentType(contentType: string): void
  /** A handle that also sends this fixed header. */
  withHeader(name: string, value: string): NativeStream
  /** Creates the stream (or a fork), or confirms an identical one exists. */
  create(config: CreateConfig, cancel: CancelToken): Promise<CreateOutcome>
  /** Appends one body (`seq`: optional `Stream-Seq`). */
  append(body: Body, seq: string | undefined | null, contentType: string | undefined | null, cancel: CancelToken): Promise<AppendOutcome>
  /**
   * Appends one message: on a JSON stream the body is one JSON value (wrapped so that
   * an array stays one message), otherwise raw bytes. Learns the content type with one
   * HEAD when the handle does not know it.
   */
  appendMessage(body: Body, seq: string | undefined | null, cancel: CancelToken): Promise<AppendOutcome>
  /** Closes the stream, optionally with a final message; resolves to the final offset. */
  close(body: Body | undefined | null, cancel: CancelToken): Promise<string>
  /** Stream metadata. */
  head(cancel: CancelToken): Promise<HeadOutcome>
  /** Deletes the stream. */
  delete(cancel: CancelToken): Promise<void>
  /**
   * A reader from `offset` (`-1`, `now` or an offset) in `live` mode (`off`,
   * `long-poll`, `sse`, `auto`). Nothing is sent until its first `next()`.
   */
  read(offset: string | undefined | null, live: string, cursor?: string | undefined | null): NativeReader
  /** An idempotent producer on this stream (its background task starts at once). */
  producer(producerId: string, config: ProducerConfig, onError?: OnErrorFn | undefined | null): NativeProducer
}

/** Outcome of an append. */
export interface AppendOutcome {
  /** The tail offset after the append. */
  nextOffset: string
  /** The stream is now closed. */
  closed: boolean
}

/**
 * Builds a change event with core's builders: `operation` (`insert`, `update`,
 * `upsert`, `delete`), `value` / `oldValue` as JSON text, `headers` as a JSON object
 * (strings; `txid` and `timestamp` are checked). Returns the event's JSON text.
 */
export declare function buildChangeEvent(operation: string, entityType: string, key: string, value?: string | undefined | null, oldValue?: string | undefined | null, headers?: string | undefined | null): string

/** Client settings. */
export interface ClientConfig {
  /** Retry policy. */
  retry?: RetryConfig
  /** A whole non-live request, in ms (default 60 000). */
  requestTimeoutMs?: number
  /** A whole long-poll request, in ms (default 120 000). */
  longPollTimeoutMs?: number
  /** Silence on an SSE connection before it is reopened, in ms (default 120 000). */
  sseIdleTimeoutMs?: number
  /** Auto mode: wait for the first SSE event before falling back to long-poll, in ms. */
  sseFirstEventTimeoutMs?: number
}

/** Options of `NativeStream.create`. */
export interface CreateConfig {
  /** The stream's content type. */
  contentType?: string
  /** Sliding time-to-live in seconds. */
  ttlSeconds?: number
  /** Absolute expiry (RFC 3339). */
  expiresAt?: string
  /** Create the stream already closed. */
  closed?: boolean
  /** Initial content. */
  body?: Body
  /** Fork source (path or URL): creates a fork instead of an empty stream. */
  forkSource?: string
  /** Fork divergence offset (default: the source's tail). */
  forkOffset?: string
  /** Messages or bytes inherited past `forkOffset`. */
  forkSubOffset?: number
}

/** Outcome of a create. */
export interface CreateOutcome {
  /** True for `201 Created`, false when an identical stream existed. */
  created: boolean
  /** 201 or 200. */
  status: number
  /** The tail offset. */
  nextOffset?: string
  /** The stream's content type. */
  contentType?: string
  /** The stream is closed. */
  closed: boolean
}

/** Stream metadata from `HEAD`. */
export interface HeadOutcome {
  /** The content type. */
  contentType?: string
  /** The tail offset. */
  nextOffset: string
  /** Sliding TTL in seconds. */
  ttlSeconds?: number
  /** Absolute expiry (RFC 3339). */
  expiresAt?: string
  /** The stream is closed. */
  closed: boolean
}

/** What one `applyJson` did. */
export interface NativeApplied {
  /** Events applied. */
  applied: number
  /** Malformed events skipped: each an encoded `StateError` (JSON of its facts). */
  malformed: Array<string>
  /** With `changes: true`: the changes as a JSON array (see core's `Change`). */
  changes?: string
}

/** One chunk of stream data with its position and flags. */
export interface NativeChunk {
  /** The bytes; for JSON streams a JSON array of the messages. */
  data: Buffer
  /** The offset to resume from. */
  nextOffset: string
  /** The reader had every byte that existed when this was sent. */
  upToDate: boolean
  /** The stream is closed and this is its last chunk. */
  closed: boolean
  /** The server's cursor. */
  cursor?: string
  /** HTTP status: 200, or 204 for a long-poll that timed out without data. */
  status: number
  /** `data` is a JSON array of messages. */
  json: boolean
  /** For JSON chunks: the number of messages (0 for an empty batch). */
  messages?: number
  /** The chunk carries no data. */
  empty: boolean
  /** How it arrived: `catch-up`, `long-poll` or `sse`. */
  transport: string
}

/** One batch applied by a follower. */
export interface NativeStateUpdate {
  /** The changes as a JSON array (see core's `Change`). */
  changes: string
  /** Malformed events skipped: each an encoded `StateError`. */
  malformed: Array<string>
  /** The offset after the batch. */
  offset: string
  /** The follower had every event that existed when the batch was sent. */
  upToDate: boolean
  /** Up to date and outside a snapshot. */
  consistent: boolean
  /** The stream is closed; this was its last batch. */
  closed: boolean
}

/** Producer settings (absent fields keep the core defaults). */
export interface ProducerConfig {
  /** Starting epoch (default 0). */
  epoch?: number
  /** On a stale epoch, take over at the server's epoch + 1. */
  autoClaim?: boolean
  /** Close a batch at this many bytes (default 1 MiB). */
  maxBatchBytes?: number
  /** Close a batch at this many items (default 10 000). */
  maxBatchItems?: number
  /** Batches in flight at once (default 1). */
  maxInFlight?: number
  /** How long a batch's first item waits for company, in ms (default 5). */
  lingerMs?: number
  /** Unacknowledged bytes above which `append` throws `BufferFullError` (default 16 MiB). */
  maxBufferedBytes?: number
  /** The stream's content type, when the handle does not know it. */
  contentType?: string
}

/** Retry policy, as in the core `RetryOptions` (absent fields keep their defaults). */
export interface RetryConfig {
  /** Retries after the first attempt (0 disables retries). */
  maxRetries?: number
  /** Upper bound of the first backoff, in ms. */
  initialDelayMs?: number
  /** Upper bound of any backoff, in ms. */
  maxDelayMs?: number
  /** Growth of the backoff bound per attempt (at least 1). */
  multiplier?: number
  /** Retry plain appends when the server cannot have applied them (default true). */
  retryPlainAppends?: boolean
}

/** Server settings (absent fields keep `Config::memory()` defaults). */
export interface ServerConfig {
  /** Interface to bind (default `127.0.0.1`). */
  host?: string
  /** Port (default 0: a free port). */
  port?: number
  /** Store streams in this directory instead of memory. */
  dataDir?: string
  /** URL prefix of streams (default `/v1/stream`; `""` serves streams at the root). */
  prefix?: string
  /** How long a long-poll waits, in ms (default 30 000). */
  longPollTimeoutMs?: number
  /** Longest SSE connection before the server rotates it, in ms (default 60 000). */
  sseMaxDurationMs?: number
  /** Largest body a single read response carries, in bytes (default 1 MiB). */
  maxReadBytes?: number
  /** Largest append body, in bytes (default 64 MiB). */
  maxBodyBytes?: number
  /** Enable the `/_test/inject-error` fault-injection endpoint. */
  testFaults?: boolean
  /** Turn access control on with static tokens: `<token> read|write|admin <path>` per line. */
  authTokens?: string
  /** Turn access control on with HS256 JWTs signed by this secret (32 bytes or more). */
  authJwtSecret?: string
  /** Turn access control on with JWTs signed by this PEM public key's private half. */
  authJwtPublicKeyPem?: string
  /** Turn access control on with JWTs signed by the keys of this JWKS URL. */
  authJwtJwksUrl?: string
  /** Browser origins allowed by CORS: `*` (default) or a comma-separated list. */
  corsOrigins?: string
}

/** Validates producer options without a stream (throws `InvalidArgumentError`). */
export declare function validateProducerOptions(producerId: string | undefined | null, config: ProducerConfig): void

/** Validates retry options without building a client (throws `InvalidArgumentError`). */
export declare function validateRetryOptions(config: RetryConfig): void

/** Checks one event (JSON text) against the spec; throws a `StateError` naming the field. */
export declare function validateStateEvent(event: string): void

// Hand-written types of the JavaScript layer (the Native* classes' declarations are
// generated from Rust into native/index.d.ts at build time).

export type Offset = string
export type MaybePromise<T> = T | Promise<T>
export type HeadersRecord = { [key: string]: string | (() => MaybePromise<string>) }
export type ParamsRecord = { [key: string]: string | (() => MaybePromise<string>) | undefined }
export type LiveMode = boolean | "long-poll" | "sse"
export type Body = string | Uint8Array | ArrayBuffer

export interface RetryOptions {
  maxRetries?: number
  initialDelayMs?: number
  maxDelayMs?: number
  multiplier?: number
  retryPlainAppends?: boolean
}

export interface BackoffOptions {
  initialDelay: number
  maxDelay: number
  multiplier: number
  maxRetries?: number
}

export interface Timeouts {
  requestMs?: number
  longPollMs?: number
  sseIdleMs?: number
  sseFirstEventMs?: number
}

export interface DurableStreamOptions {
  url: string | URL
  headers?: HeadersRecord
  params?: ParamsRecord
  signal?: AbortSignal
  contentType?: string
  retry?: RetryOptions
  backoffOptions?: BackoffOptions
  timeouts?: Timeouts
}

export interface CreateOptions extends DurableStreamOptions {
  ttlSeconds?: number
  expiresAt?: string
  body?: Body
  closed?: boolean
}

export interface ForkOptions extends Omit<CreateOptions, "closed"> {
  /** Divergence offset (default: the source's tail). */
  offset?: Offset
  /** Messages (JSON) or bytes inherited past `offset`. */
  subOffset?: number
}

export interface AppendOptions {
  seq?: string
  contentType?: string
  signal?: AbortSignal
  /** Send the body as is: on a JSON stream a JSON array appends each element. */
  flatten?: boolean
}

export interface AppendResult { offset: Offset; streamClosed: boolean }
export interface CloseOptions { body?: Body; contentType?: string; signal?: AbortSignal }
export interface CloseResult { finalOffset: Offset }

export type HeadResult =
  | { exists: true; contentType?: string; offset: Offset; streamClosed: boolean; ttlSeconds?: number; expiresAt?: string }
  | { exists: false }

export interface CreateOutcome {
  created: boolean
  status: number
  nextOffset?: string | null
  contentType?: string | null
  closed: boolean
}

export interface StreamOptions {
  url: string | URL
  headers?: HeadersRecord
  params?: ParamsRecord
  signal?: AbortSignal
  offset?: Offset
  live?: LiveMode
  cursor?: string
  json?: boolean
  retry?: RetryOptions
  backoffOptions?: BackoffOptions
  timeouts?: Timeouts
}

export interface JsonBatchMeta { offset: Offset; upToDate: boolean; cursor?: string; streamClosed: boolean }
export interface JsonBatch<T = unknown> extends JsonBatchMeta { items: ReadonlyArray<T> }
export interface ByteChunk extends JsonBatchMeta { data: Uint8Array }
export interface TextChunk extends JsonBatchMeta { text: string }
export type ReadableStreamAsyncIterable<T> = ReadableStream<T> & AsyncIterable<T>

export declare class StreamResponse<TJson = unknown> {
  readonly url: string
  readonly contentType?: string
  readonly live: LiveMode
  readonly startOffset: Offset
  readonly status: number
  readonly statusText: string
  readonly ok: boolean
  readonly isLoading: boolean
  readonly offset: Offset
  readonly cursor?: string
  readonly upToDate: boolean
  readonly streamClosed: boolean
  /** Resolves when the session ends; rejects with a subscriber session's error. */
  readonly closed: Promise<void>
  body(): Promise<Uint8Array>
  json<T = TJson>(): Promise<Array<T>>
  text(): Promise<string>
  bodyStream(): ReadableStreamAsyncIterable<Uint8Array>
  jsonStream(): ReadableStreamAsyncIterable<TJson>
  textStream(): ReadableStreamAsyncIterable<string>
  subscribeJson<T = TJson>(subscriber: (batch: JsonBatch<T>) => void | Promise<void>): () => void
  subscribeBytes(subscriber: (chunk: ByteChunk) => void | Promise<void>): () => void
  subscribeText(subscriber: (chunk: TextChunk) => void | Promise<void>): () => void
  cancel(reason?: unknown): void
}

export declare class DurableStream {
  readonly url: string
  contentType?: string
  /** The outcome of the last `create` through this handle. */
  readonly lastCreate?: CreateOutcome
  constructor(opts: DurableStreamOptions)
  static create(opts: CreateOptions): Promise<DurableStream>
  static connect(opts: DurableStreamOptions): Promise<DurableStream>
  static head(opts: DurableStreamOptions): Promise<HeadResult>
  static delete(opts: DurableStreamOptions): Promise<void>
  create(opts?: Omit<CreateOptions, "url">): Promise<this>
  fork(opts: ForkOptions): Promise<DurableStream>
  head(opts?: { signal?: AbortSignal }): Promise<HeadResult>
  delete(opts?: { signal?: AbortSignal }): Promise<void>
  append(body: Body | object | Promise<Body>, opts?: AppendOptions): Promise<AppendResult>
  close(opts?: CloseOptions): Promise<CloseResult>
  stream<TJson = unknown>(options?: Omit<StreamOptions, "url">): Promise<StreamResponse<TJson>>
  producer(producerId: string, opts?: IdempotentProducerOptions): IdempotentProducer
}

export declare function stream<TJson = unknown>(options: StreamOptions): Promise<StreamResponse<TJson>>

export interface IdempotentProducerOptions {
  epoch?: number
  autoClaim?: boolean
  maxBatchBytes?: number
  maxBatchItems?: number
  lingerMs?: number
  maxInFlight?: number
  maxBufferedBytes?: number
  contentType?: string
  headers?: HeadersRecord
  signal?: AbortSignal
  onError?: (error: DurableStreamError) => void
}

export declare class IdempotentProducer {
  constructor(stream: DurableStream, producerId: string, opts?: IdempotentProducerOptions)
  readonly stream: DurableStream
  append(body: Body | object): void
  appendWait(body: Body | object, opts?: { signal?: AbortSignal }): Promise<void>
  flush(opts?: { signal?: AbortSignal }): Promise<void>
  close(finalMessage?: Body, opts?: { signal?: AbortSignal }): Promise<CloseResult>
  detach(opts?: { signal?: AbortSignal }): Promise<void>
  restart(opts?: { signal?: AbortSignal }): Promise<number>
  readonly producerId: string
  readonly epoch: number
  readonly nextSeq: number
  readonly lastSuccessfulOffset: Offset | undefined
  readonly bufferedBytes: number
  /** Messages appended and not yet acknowledged by the server. */
  readonly pendingCount: number
  /** Batches sent and waiting for the server's answer. */
  readonly inFlightCount: number
  readonly error: DurableStreamError | undefined
}

export interface ServerOptions {
  host?: string
  port?: number
  dataDir?: string
  prefix?: string
  longPollTimeoutMs?: number
  /** Alias of longPollTimeoutMs (the @durable-streams/server spelling). */
  longPollTimeout?: number
  sseMaxDurationMs?: number
  maxReadBytes?: number
  maxBodyBytes?: number
  testFaults?: boolean
  /** Turns access control on with static tokens: `<token> read|write|admin <path>` per line. */
  authTokens?: string
  /** Turns access control on with HS256 JWTs signed by this secret (32 bytes or more). */
  authJwtSecret?: string
  /** Turns access control on with JWTs signed by this PEM public key's private half. */
  authJwtPublicKeyPem?: string
  /** Turns access control on with JWTs signed by the keys of this JWKS URL. */
  authJwtJwksUrl?: string
  /** Browser origins allowed by CORS: `*` (default) or a comma-separated list. */
  corsOrigins?: string
}

export interface Fault {
  status?: number
  retryAfter?: number
  count?: number
  delayMs?: number
  jitterMs?: number
  dropConnection?: boolean
  truncateBodyBytes?: number
  corruptBody?: boolean
  probability?: number
  method?: string
  injectSseEvent?: { eventType: string; data: string }
}

export declare class DurableStreamServer {
  constructor(opts?: ServerOptions)
  start(): Promise<string>
  stop(): Promise<void>
  readonly url: string
  readonly port: number
  readonly prefix: string
  streamUrl(name: string): string
  injectFault(path: string, fault: Fault): Promise<void>
  injectError(path: string, status: number, count?: number, retryAfter?: number): Promise<void>
  clearFaults(): Promise<void>
}

export declare class DurableStreamTestServer extends DurableStreamServer {}

/** The package version, e.g. `"0.1.0"`. */
export declare const version: string

export declare function validateRetryOptions(opts: RetryOptions): void
export declare function validateProducerOptions(producerId: string | undefined, opts: IdempotentProducerOptions): void

export interface ErrorFields {
  code?: string
  status?: number
  url?: string
  path?: string
  expectedSeq?: number
  receivedSeq?: number
  currentEpoch?: number
  finalOffset?: string
  retryAfterMs?: number
  attempts?: number
  argument?: string
  retryable?: boolean
}

export declare class DurableStreamError extends Error {
  constructor(message: string, fields?: ErrorFields)
  code: string
  status?: number
  url?: string
  path?: string
  expectedSeq?: number
  receivedSeq?: number
  currentEpoch?: number
  finalOffset?: string
  retryAfterMs?: number
  attempts: number
  argument?: string
  retryable: boolean
}
export declare class StreamNotFoundError extends DurableStreamError {}
export declare class StreamGoneError extends DurableStreamError {}
export declare class StreamConflictError extends DurableStreamError {}
export declare class StreamClosedError extends DurableStreamError { readonly streamClosed: true }
export declare class SequenceConflictError extends DurableStreamError {}
export declare class SequenceGapError extends DurableStreamError {}
export declare class StaleEpochError extends DurableStreamError {}
export declare class BadRequestError extends DurableStreamError {}
export declare class InvalidOffsetError extends DurableStreamError {}
export declare class UnauthorizedError extends DurableStreamError {}
export declare class UnexpectedStatusError extends DurableStreamError {}
export declare class RetryExhaustedError extends DurableStreamError {}
export declare class ParseError extends DurableStreamError {}
export declare class NetworkError extends DurableStreamError {}
export declare class TimeoutError extends DurableStreamError {}
export declare class InvalidArgumentError extends DurableStreamError {}
export declare class BufferFullError extends DurableStreamError {}
export declare class ProducerClosedError extends DurableStreamError {}
export declare class MissingStreamUrlError extends Error {}
export {
  MaterializedState, StateFollower, StateError, createStateSchema, isChangeEvent, isControlEvent,
} from "./state"

// DurableStream: a handle on one stream (create, fork, append, close, head, delete,
// stream()). Every call runs in the native core; this file converts options.
"use strict"
const { native, call, anySignal, sync } = require("./call.cjs")
const { MissingStreamUrlError, StreamNotFoundError } = require("./errors.cjs")

/** Retry settings from either spelling: `retry` (ms names) or the TS `backoffOptions`. */
function retryConfig(opts) {
  const r = opts.retry ?? {}
  const b = opts.backoffOptions ?? {}
  const cfg = {
    maxRetries: r.maxRetries ?? (Number.isFinite(b.maxRetries) ? b.maxRetries : undefined),
    initialDelayMs: r.initialDelayMs ?? b.initialDelay,
    maxDelayMs: r.maxDelayMs ?? b.maxDelay,
    multiplier: r.multiplier ?? b.multiplier,
    retryPlainAppends: r.retryPlainAppends,
  }
  return Object.values(cfg).some((v) => v !== undefined) ? cfg : undefined
}

function toText(v) {
  return typeof v === "string" ? v : String(v)
}

/** A native client with these headers and params (values or sync/async functions). */
function makeClient(opts) {
  const t = opts.timeouts ?? {}
  const client = sync(() => new native.NativeClient({
    retry: retryConfig(opts),
    requestTimeoutMs: t.requestMs,
    longPollTimeoutMs: t.longPollMs,
    sseIdleTimeoutMs: t.sseIdleMs,
    sseFirstEventTimeoutMs: t.sseFirstEventMs,
  }))
  for (const [name, v] of Object.entries(opts.headers ?? {})) {
    if (v === undefined) continue
    if (typeof v === "function") client.setHeaderFn(name, async () => toText(await v()))
    else client.setHeader(name, toText(v))
  }
  for (const [name, v] of Object.entries(opts.params ?? {})) {
    if (v === undefined) continue
    if (typeof v === "function") client.setParamFn(name, async () => toText(await v()))
    else client.setParam(name, toText(v))
  }
  return client
}

/** A body for the native side: strings stay strings, bytes become a Buffer view. */
function toBody(body) {
  if (body === undefined || body === null) return undefined
  if (typeof body === "string" || Buffer.isBuffer(body)) return body
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof ArrayBuffer) return Buffer.from(body)
  return JSON.stringify(body)
}

/** A handle to a remote durable stream. No network I/O until a method is called. */
class DurableStream {
  #opts
  #client
  #native

  constructor(opts) {
    if (!opts || !opts.url) throw new MissingStreamUrlError()
    this.url = String(opts.url)
    this.#opts = { ...opts, url: this.url }
    this.#client = makeClient(this.#opts)
    this.#native = sync(() => this.#client.stream(this.url))
    if (opts.contentType) this.#native.setContentType(opts.contentType)
  }

  /** The content type (known after create, connect, head or a read). */
  get contentType() {
    return this.#native.contentType ?? undefined
  }

  set contentType(ct) {
    if (ct) this.#native.setContentType(ct)
  }

  /** @internal the native handle, optionally with extra headers/params. */
  _native(extra) {
    if (!extra || (!extra.headers && !extra.params)) return this.#native
    const client = makeClient({
      ...this.#opts,
      headers: { ...this.#opts.headers, ...extra.headers },
      params: { ...this.#opts.params, ...extra.params },
    })
    const n = sync(() => client.stream(this.url))
    if (this.contentType) n.setContentType(this.contentType)
    return n
  }

  /** @internal */
  get _options() {
    return this.#opts
  }

  #signal(opts) {
    return anySignal(this.#opts.signal, opts?.signal)
  }

  /** Creates a stream and returns its handle. */
  static async create(opts) {
    const s = new DurableStream(opts)
    await s.create(opts)
    return s
  }

  /** Checks that the stream exists (HEAD) and returns a handle knowing its content type. */
  static async connect(opts) {
    const s = new DurableStream(opts)
    await s.#head(opts)
    return s
  }

  /** HEAD without keeping a handle. */
  static async head(opts) {
    return new DurableStream(opts).head(opts)
  }

  /** DELETE without keeping a handle. */
  static async delete(opts) {
    return new DurableStream(opts).delete(opts)
  }

  /** Creates this stream. Resolves to the handle; `created` tells 201 from 200. */
  async create(opts = {}) {
    const r = await call(this.#signal(opts), (c) => this.#native.create({
      contentType: opts.contentType ?? this.#opts.contentType,
      ttlSeconds: opts.ttlSeconds,
      expiresAt: opts.expiresAt,
      closed: opts.closed,
      body: toBody(opts.body),
      forkSource: opts.forkFrom,
      forkOffset: opts.forkOffset,
      forkSubOffset: opts.forkSubOffset,
    }, c))
    this.lastCreate = r
    return this
  }

  /**
   * Creates a fork of this stream at `opts.url`: it inherits this stream's data up to
   * `opts.offset` (default: the tail), plus `opts.subOffset` messages or bytes past it.
   */
  async fork(opts) {
    if (!opts || !opts.url) throw new MissingStreamUrlError()
    const f = new DurableStream({ ...this.#opts, contentType: undefined, ...opts })
    await f.create({ ...opts, forkFrom: this.url, forkOffset: opts.offset, forkSubOffset: opts.subOffset })
    return f
  }

  async #head(opts) {
    const h = await call(this.#signal(opts), (c) => this.#native.head(c))
    return {
      exists: true,
      contentType: h.contentType ?? undefined,
      offset: h.nextOffset,
      streamClosed: h.closed,
      ttlSeconds: h.ttlSeconds ?? undefined,
      expiresAt: h.expiresAt ?? undefined,
    }
  }

  /** Stream metadata; `{ exists: false }` for a missing stream. */
  async head(opts) {
    try {
      return await this.#head(opts)
    } catch (e) {
      if (e instanceof StreamNotFoundError) return { exists: false }
      throw e
    }
  }

  /** Deletes the stream. */
  async delete(opts) {
    await call(this.#signal(opts), (c) => this.#native.delete(c))
  }

  /**
   * Appends one payload. On a JSON stream a string is one pre-serialized JSON message (an
   * object is serialized for you); `{ flatten: true }` sends the body as is, so a JSON
   * array appends each element. Resolves to `{ offset, streamClosed }`.
   */
  async append(body, opts = {}) {
    const data = toBody(await body)
    const seq = opts.seq ?? null
    const r = await call(this.#signal(opts), (c) => opts.flatten || opts.contentType
      ? this.#native.append(data, seq, opts.contentType ?? null, c)
      : this.#native.appendMessage(data, seq, c))
    return { offset: r.nextOffset, streamClosed: r.closed }
  }

  /** Closes the stream, optionally with a final message. Resolves to `{ finalOffset }`. */
  async close(opts = {}) {
    if (opts.contentType) this.#native.setContentType(opts.contentType)
    const body = toBody(opts.body)
    const finalOffset = await call(this.#signal(opts), (c) => this.#native.close(body, c))
    return { finalOffset }
  }

  /** Starts a read session (see `StreamResponse`). */
  async stream(options = {}) {
    const { StreamResponse } = require("./response.cjs")
    return StreamResponse.open(this, options, this.#signal(options))
  }

  /** An idempotent producer on this stream. */
  producer(producerId, opts) {
    const { IdempotentProducer } = require("./producer.cjs")
    return new IdempotentProducer(this, producerId, opts)
  }
}

module.exports = { DurableStream, makeClient, toBody }

// IdempotentProducer: exactly-once, batched, pipelined appends run by the native core.
"use strict"
const { call, sync } = require("./call.cjs")
const { decode, fromNative } = require("./errors.cjs")
const { toBody } = require("./stream.cjs")

/**
 * An idempotent producer. `append()` queues and returns at once (it never waits on the
 * network); `flush()`, `close()`, `detach()` and `restart()` wait. Fatal errors go to
 * `onError` and to the next awaited call.
 */
class IdempotentProducer {
  #p
  #signal

  constructor(stream, producerId, opts = {}) {
    this.stream = stream
    this.#signal = opts.signal
    const n = stream._native(opts.headers ? { headers: opts.headers } : undefined)
    const onError = opts.onError
      ? (text) => { opts.onError(decode(text)) }
      : null
    this.#p = sync(() => n.producer(producerId, {
      epoch: opts.epoch,
      autoClaim: opts.autoClaim,
      maxBatchBytes: opts.maxBatchBytes,
      maxBatchItems: opts.maxBatchItems,
      maxInFlight: opts.maxInFlight,
      lingerMs: opts.lingerMs,
      maxBufferedBytes: opts.maxBufferedBytes,
      contentType: opts.contentType ?? stream.contentType,
    }, onError))
    if (opts.signal) {
      opts.signal.addEventListener("abort", () => { this.detach().catch(() => {}) }, { once: true })
    }
  }

  /**
   * Queues one item: a string or bytes (on a JSON stream, one serialized JSON value); any
   * other value is serialized with JSON.stringify. Throws `BufferFullError` past
   * `maxBufferedBytes` and the producer's fatal error once it has one.
   */
  append(body) {
    const b = typeof body === "string" ? body : toBody(body)
    try {
      this.#p.append(b)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Like `append`, but waits for buffer room instead of throwing `BufferFullError`. */
  async appendWait(body, opts = {}) {
    await call(opts.signal, (c) => this.#p.appendWait(toBody(body), c))
  }

  /** Sends everything queued and waits until the server acknowledged it. */
  async flush(opts = {}) {
    await call(opts.signal ?? this.#signal, (c) => this.#p.flush(c))
  }

  /** Flushes, then closes the stream (idempotently), optionally with a final message. */
  async close(finalMessage, opts = {}) {
    const finalOffset = await call(opts.signal, (c) => this.#p.close(toBody(finalMessage), c))
    return { finalOffset }
  }

  /** Flushes, then stops the producer without closing the stream. */
  async detach(opts = {}) {
    await call(opts.signal, (c) => this.#p.detach(c))
  }

  /** Starts a new epoch at sequence 0 (clearing a fatal error). Resolves to the epoch. */
  async restart(opts = {}) {
    return call(opts.signal, (c) => this.#p.restart(c))
  }

  /** The producer id. */
  get producerId() { return this.#p.id }
  /** The current epoch. */
  get epoch() { return this.#p.epoch }
  /** The next sequence number to be assigned. */
  get nextSeq() { return this.#p.nextSeq }
  /** The tail offset reported by the last acknowledged batch. */
  get lastSuccessfulOffset() { return this.#p.lastOffset ?? undefined }
  /** Bytes appended and not yet acknowledged. */
  get bufferedBytes() { return this.#p.bufferedBytes }
  /** Messages appended and not yet acknowledged by the server. */
  get pendingCount() { return this.#p.pendingCount }
  /** Batches sent and waiting for the server's answer. */
  get inFlightCount() { return this.#p.inFlightCount }
  /** The fatal error that stopped the producer, if any. */
  get error() {
    const e = this.#p.error
    return e ? decode(e) : undefined
  }
}

module.exports = { IdempotentProducer }

// StreamResponse: one read session over a native reader, consumed one way (promise
// helpers, ReadableStreams / async iterators, or subscribers with back-pressure).
"use strict"
const { fromNative, abortError, DurableStreamError } = require("./errors.cjs")
const { sync } = require("./call.cjs")
const { StringDecoder } = require("node:string_decoder")

/** JSON chunks of at least SPLIT_MIN bytes are parsed a piece of about PIECE_BYTES at a time. */
const PIECE_BYTES = 64 * 1024
const SPLIT_MIN = 4 * PIECE_BYTES
const DONE = Object.freeze({ value: undefined, done: true })

const MODES = new Map([[false, "off"], [true, "auto"], ["long-poll", "long-poll"], ["sse", "sse"]])

/** A ReadableStream whose own async iterator is the fast path (no queue per item). */
function iterableStream(makeIterator) {
  let it = null
  const get = () => (it ??= makeIterator())
  const rs = new ReadableStream({
    async pull(controller) {
      const r = await get().next()
      if (r.done) controller.close()
      else controller.enqueue(r.value)
    },
    cancel() {
      return get().return?.()
    },
  }, { highWaterMark: 0 })
  Object.defineProperty(rs, Symbol.asyncIterator, {
    value() {
      const inner = get()
      if (inner[Symbol.asyncIterator]) return inner
      return {
        next: () => inner.next(),
        return: () => inner.return(),
        [Symbol.asyncIterator]() { return this },
      }
    },
  })
  return rs
}

/** A live or catch-up read session. */
class StreamResponse {
  #reader
  #signal
  #pending = null
  #consumed = false
  #done = false
  #stopAtUpToDate = false
  #json
  /** The consumer parses JSON chunks itself (JSON.parse), so the reader need not check them. */
  #parsesJson = false
  /** The native reader checks JSON chunks (off until a byte or text consumer is known). */
  #checking = false
  #resolveClosed
  #rejectClosed
  #onAbort

  constructor(reader, { url, live, startOffset, json, contentType }, signal) {
    this.#reader = reader
    this.#signal = signal
    this.#json = json
    this.url = url
    this.live = live
    this.startOffset = startOffset
    this.contentType = contentType
    this.offset = startOffset
    this.cursor = undefined
    this.upToDate = false
    this.streamClosed = false
    this.status = 200
    this.statusText = "OK"
    this.ok = true
    this.isLoading = false
    this.closed = new Promise((resolve, reject) => {
      this.#resolveClosed = resolve
      this.#rejectClosed = reject
    })
    this.closed.catch(() => {})
    if (signal) {
      this.#onAbort = () => this.cancel(signal.reason)
      signal.addEventListener("abort", this.#onAbort, { once: true })
    }
  }

  /** @internal Opens a session: the first response arrives before this resolves. */
  static async open(handle, options, signal) {
    if (signal?.aborted) throw abortError(signal)
    const live = options.live ?? true
    const mode = MODES.get(live)
    if (mode === undefined) {
      throw new DurableStreamError(`invalid live mode ${JSON.stringify(live)}`, { code: "INVALID_ARGUMENT", argument: "live" })
    }
    const n = handle._native(options)
    const startOffset = options.offset ?? "-1"
    const reader = sync(() => n.read(startOffset, mode, options.cursor ?? null))
    const res = new StreamResponse(reader, {
      url: handle.url, live, startOffset, json: options.json, contentType: n.contentType ?? undefined,
    }, signal)
    try {
      res.#pending = await res.#pull()
    } catch (e) {
      res.#finish()
      throw e
    }
    res.contentType = n.contentType ?? res.contentType
    if (res.#pending) res.status = res.#pending.status
    return res
  }

  async #pull() {
    try {
      const checked = this.#checking
      const c = await this.#reader.next()
      if (c === null && this.#signal?.aborted) throw abortError(this.#signal)
      if (c !== null && !checked) c.unchecked = true
      return c
    } catch (e) {
      throw fromNative(e, this.#signal)
    }
  }

  /** Next chunk (updating the session state as it is delivered), or null at the end. */
  async #next() {
    if (this.#done) return null
    let c = this.#pending
    this.#pending = null
    if (c === null) c = await this.#pull().catch((e) => {
      this.#finish()
      throw e
    })
    if (c === null) {
      this.#finish()
      return null
    }
    if (c.unchecked && c.json && !c.empty && !this.#parsesJson) {
      // Fetched before the consumer was known: byte and text consumers get checked JSON.
      try {
        sync(() => this.#reader.checkJsonData(c.data))
      } catch (e) {
        this.#finish()
        throw e
      }
    }
    this.offset = c.nextOffset
    if (c.cursor) this.cursor = c.cursor
    this.upToDate = c.upToDate
    this.streamClosed = c.closed
    this.status = c.status
    if (c.closed || (this.#stopAtUpToDate && c.upToDate) || this.live === false && c.upToDate) {
      this.#finish()
    }
    return c
  }

  #finish() {
    if (this.#done) return
    this.#done = true
    this.#reader.cancel()
    if (this.#onAbort) this.#signal.removeEventListener("abort", this.#onAbort)
    this.#resolveClosed()
  }

  /** A subscriber's session failed: `closed` rejects with the error. */
  #fail(e) {
    this.error = e
    this.#rejectClosed(e)
  }

  #claim(parsesJson = false) {
    if (this.#consumed) {
      throw new DurableStreamError("this response was already consumed", { code: "ALREADY_CONSUMED" })
    }
    this.#consumed = true
    this.#use(parsesJson)
  }

  /** Chunks fetched from now on are checked as JSON by the reader unless `parsesJson`. */
  #use(parsesJson) {
    this.#parsesJson = parsesJson
    this.#checking = !parsesJson
    this.#reader.setCheckJson(!parsesJson)
  }

  #items(c) {
    if (!c.json && !this.#json) {
      throw new DurableStreamError("json APIs need a JSON stream (or the json option)", { code: "BAD_REQUEST" })
    }
    if (c.empty || c.data.length === 0) return []
    return parseJson(c.data.toString("utf8"))
  }

  /**
   * JSON items one by one. `next()` hands out parsed items as already settled promises
   * (no async frame per item); a large chunk is parsed a piece at a time (cut by the
   * native reader at top-level commas), so the items of one piece can be collected
   * young instead of all of the chunk's items living at once. A chunk with invalid JSON
   * fails at the piece that holds it (earlier pieces' items are delivered first).
   */
  #jsonIterator() {
    const self = this
    let items = []
    let i = 0
    let data = null
    let bounds = null
    let piece = 0
    let busy = null
    // The next piece of the current chunk into `items`; false when none is left.
    const refill = () => {
      while (bounds !== null && piece < bounds.length - 1) {
        const text = data.toString("utf8", bounds[piece] + 1, bounds[piece + 1])
        piece++
        try {
          items = parseJson("[" + text + "]")
        } catch (e) {
          bounds = data = null
          throw e
        }
        i = 0
        if (items.length > 0) return true
      }
      bounds = data = null
      return false
    }
    const take = (c) => {
      items = []
      i = 0
      const big = c.data.length >= SPLIT_MIN && !c.empty && (c.json || self.#json)
      const cut = big ? self.#reader.splitJson(c.data, PIECE_BYTES) : null
      if (cut === null) {
        items = self.#items(c)
      } else {
        data = c.data
        bounds = cut
        piece = 0
      }
    }
    const slow = async () => {
      for (;;) {
        if (refill()) return { value: items[i++], done: false }
        const c = await self.#next()
        if (c === null) return DONE
        take(c)
        if (i < items.length || refill()) return { value: items[i++], done: false }
      }
    }
    const it = {
      next() {
        if (busy !== null) return busy.then(it.next, it.next)
        try {
          if (i < items.length || refill()) return Promise.resolve({ value: items[i++], done: false })
        } catch (e) {
          return Promise.reject(e)
        }
        const p = slow()
        busy = p
        const clear = () => { if (busy === p) busy = null }
        p.then(clear, clear)
        return p
      },
      return() {
        self.#finish()
        items = []
        bounds = data = null
        return Promise.resolve(DONE)
      },
      [Symbol.asyncIterator]() { return this },
    }
    return it
  }

  #meta(c) {
    return { offset: c.nextOffset, upToDate: c.upToDate, cursor: c.cursor ?? undefined, streamClosed: c.closed }
  }

  /** All bytes until up to date (or the end), as one Uint8Array. */
  async body() {
    this.#claim()
    this.#stopAtUpToDate = true
    const parts = []
    for (let c; (c = await this.#next()) !== null;) if (c.data.length) parts.push(c.data)
    const b = parts.length === 1 ? parts[0] : Buffer.concat(parts)
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  }

  /** All text until up to date (or the end). */
  async text() {
    this.#claim()
    this.#stopAtUpToDate = true
    const d = new StringDecoder("utf8")
    let out = ""
    for (let c; (c = await this.#next()) !== null;) out += d.write(c.data)
    return out + d.end()
  }

  /** All JSON items until up to date (or the end), as one array. */
  async json() {
    this.#claim(true)
    this.#stopAtUpToDate = true
    let all = null
    for (let c; (c = await this.#next()) !== null;) {
      const items = this.#items(c)
      all = all === null ? items : all.concat(items)
    }
    return all ?? []
  }

  #iterator(each) {
    let queue = null
    let i = 0
    const self = this
    return {
      async next() {
        for (;;) {
          if (queue !== null && i < queue.length) return { value: queue[i++], done: false }
          const c = await self.#next()
          if (c === null) return { value: undefined, done: true }
          queue = each(c)
          i = 0
        }
      },
      async return() {
        self.#finish()
        return { value: undefined, done: true }
      },
    }
  }

  /** Raw bytes as an async-iterable ReadableStream<Uint8Array> (one per chunk). */
  bodyStream() {
    this.#claim()
    return iterableStream(() => this.#iterator((c) => (c.data.length ? [new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength)] : [])))
  }

  /** JSON items one by one, as an async-iterable ReadableStream. */
  jsonStream() {
    this.#claim(true)
    return iterableStream(() => this.#jsonIterator())
  }

  /** Text chunks as an async-iterable ReadableStream<string>. */
  textStream() {
    this.#claim()
    const d = new StringDecoder("utf8")
    return iterableStream(() => this.#iterator((c) => {
      const t = c.closed ? d.write(c.data) + d.end() : d.write(c.data)
      return t ? [t] : []
    }))
  }

  #subscribe(make, parsesJson = false) {
    this.#claim(parsesJson)
    let active = true
    ;(async () => {
      try {
        for (let c; active && (c = await this.#next()) !== null;) {
          await make(c)
        }
      } catch (e) {
        if (active && !(this.#signal?.aborted)) this.#fail(e)
      } finally {
        this.#finish()
      }
    })()
    return () => {
      active = false
      this.#finish()
    }
  }

  /** Calls `fn(batch)` for every JSON batch, awaiting it before the next. Returns unsubscribe. */
  subscribeJson(fn) {
    return this.#subscribe((c) => fn({ items: this.#items(c), ...this.#meta(c) }), true)
  }

  /** Calls `fn(chunk)` for every byte chunk, awaiting it before the next. */
  subscribeBytes(fn) {
    return this.#subscribe((c) => fn({ data: new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength), ...this.#meta(c) }))
  }

  /** Calls `fn(chunk)` for every text chunk, awaiting it before the next. */
  subscribeText(fn) {
    const d = new StringDecoder("utf8")
    return this.#subscribe((c) => fn({ text: c.closed ? d.write(c.data) + d.end() : d.write(c.data), ...this.#meta(c) }))
  }

  /** Ends the session: pending reads finish, the connection is dropped. */
  cancel(_reason) {
    this.#finish()
  }

  /** @internal chunk-level access (used by the conformance adapter and tests). */
  async nextChunk() {
    if (!this.#consumed && !this.#checking) this.#use(false)
    return this.#next()
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new (require("./errors.cjs").ParseError)(`invalid JSON in stream data: ${e.message}`, { code: "PARSE_ERROR" })
  }
}

module.exports = { StreamResponse }

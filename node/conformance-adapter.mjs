#!/usr/bin/env node
// Client-conformance adapter for the Node package (shared/conformance/client/
// ADAPTER_PROTOCOL.md): one JSON command per stdin line, exactly one JSON result per stdout
// line, in order. Every command becomes calls on the package's public API; like the Rust
// adapter it holds no protocol logic, only argument conversion, the per-path content-type
// and producer caches the protocol asks for, and the error-code mapping. Logs go to stderr.
import { createInterface } from "node:readline"
import {
  DurableStream, IdempotentProducer, DurableStreamError,
  validateRetryOptions, validateProducerOptions,
} from "@durastream/client"

const CODES = {
  NOT_FOUND: "NOT_FOUND", INVALID_OFFSET: "INVALID_OFFSET", SEQUENCE_CONFLICT: "SEQUENCE_CONFLICT",
  STREAM_CLOSED: "STREAM_CLOSED", PARSE_ERROR: "PARSE_ERROR", INVALID_ARGUMENT: "INVALID_ARGUMENT",
  CONFLICT: "CONFLICT", NETWORK_ERROR: "NETWORK_ERROR", TIMEOUT: "TIMEOUT",
  STALE_EPOCH: "STALE_EPOCH", SEQUENCE_GAP: "SEQUENCE_GAP", PRODUCER_CLOSED: "CLOSED",
}

let serverUrl = ""
let contentTypes = new Map() // path -> content type
let producers = new Map() // path|id|epoch -> producer
let dynHeaders = new Map() // name -> () => string
let dynParams = new Map()
let sentHeaders = new Map()
let sentParams = new Map()

const ok = (type, extra = {}) => ({ type, success: true, ...extra })
const plain = (commandType, errorCode, message) => ({ type: "error", success: false, commandType, errorCode, message })
function errorResult(commandType, e) {
  if (!(e instanceof DurableStreamError)) return plain(commandType, "INTERNAL_ERROR", String(e?.stack ?? e))
  const r = plain(commandType, CODES[e.code] ?? "UNEXPECTED_STATUS", e.message)
  if (e.status !== undefined) r.status = e.status
  return r
}

function makeDynamic(kind, initial, name, record) {
  record.delete(name)
  let produce
  if (kind === "counter") {
    let n = 0
    produce = () => String(++n)
  } else if (kind === "timestamp") produce = () => String(Date.now())
  else if (kind === "token") produce = () => initial ?? ""
  else return null
  return () => {
    const v = produce()
    record.set(name, v)
    return v
  }
}

function report(result) {
  if (sentHeaders.size) result.headersSent = Object.fromEntries(sentHeaders)
  if (sentParams.size) result.paramsSent = Object.fromEntries(sentParams)
  return result
}

/** A handle for the command's path, with its cached content type and headers. */
function handle(cmd) {
  const headers = { ...Object.fromEntries(dynHeaders), ...(cmd.headers ?? {}) }
  return new DurableStream({
    url: serverUrl + (cmd.path ?? "/"),
    contentType: contentTypes.get(cmd.path),
    headers,
    params: Object.fromEntries(dynParams),
  })
}

function learn(path, h) {
  if (h.contentType) contentTypes.set(path, h.contentType)
}

function payload(cmd) {
  const data = cmd.data ?? ""
  return cmd.binary ? Buffer.from(data, "base64") : data
}

function chunkJson(c) {
  const text = c.data.toString("utf8")
  const valid = Buffer.from(text, "utf8").equals(c.data)
  let data
  if (c.json && valid) data = JSON.stringify(JSON.parse(text))
  else if (valid) data = text
  else return { data: c.data.toString("base64"), binary: true, offset: c.nextOffset }
  return { data, offset: c.nextOffset }
}

async function read(cmd) {
  const live = cmd.live === "long-poll" || cmd.live === "sse" ? cmd.live : cmd.live === true
  const h = handle(cmd)
  const timeoutMs = Math.max(0, cmd.timeoutMs ?? 5000)
  const maxChunks = Math.max(1, cmd.maxChunks ?? 100)
  const ac = new AbortController()
  const timer = live === false ? null : setTimeout(() => ac.abort(), timeoutMs)
  const chunks = []
  let lastOffset
  let cursor
  let upToDate = false
  let closed = false
  let lastStatus = 200
  try {
    let res
    try {
      res = await h.stream({ offset: cmd.offset, live, signal: ac.signal })
    } catch (e) {
      if (ac.signal.aborted) return finish(true)
      throw e
    }
    for (;;) {
      let c
      try {
        c = await res.nextChunk()
      } catch (e) {
        if (ac.signal.aborted) { upToDate = true; break }
        throw e
      }
      if (c === null) {
        if (ac.signal.aborted) upToDate = true
        break
      }
      lastStatus = c.status
      lastOffset = c.nextOffset
      if (c.cursor) cursor = c.cursor
      upToDate = c.upToDate
      closed = c.closed
      if (!c.empty) chunks.push(chunkJson(c))
      if (live !== false && (chunks.length >= maxChunks || (cmd.waitForUpToDate && c.upToDate) || c.closed)) {
        res.cancel()
        break
      }
    }
    learn(cmd.path, h)
    return finish(upToDate)
  } finally {
    if (timer) clearTimeout(timer)
  }
  function finish(utd) {
    const status = chunks.length === 0 && lastStatus === 204 ? 204 : 200
    const r = ok("read", { status, chunks, upToDate: utd, streamClosed: closed })
    const offset = lastOffset ?? (cmd.offset && cmd.offset !== "-1" && cmd.offset !== "now" ? cmd.offset : undefined)
    if (offset !== undefined) r.offset = offset
    if (cursor !== undefined) r.cursor = cursor
    return report(r)
  }
}

function producerKey(cmd) {
  return `${cmd.path}|${cmd.producerId ?? ""}|${cmd.epoch ?? 0}`
}

function cachedProducer(cmd) {
  const key = producerKey(cmd)
  let p = producers.get(key)
  if (!p) {
    p = new IdempotentProducer(handle(cmd), cmd.producerId ?? "", { epoch: cmd.epoch ?? 0, autoClaim: !!cmd.autoClaim })
    producers.set(key, p)
  }
  return p
}

const commands = {
  init(cmd) {
    serverUrl = (cmd.serverUrl ?? "").replace(/\/+$/, "")
    contentTypes = new Map()
    producers = new Map()
    dynHeaders = new Map()
    dynParams = new Map()
    sentHeaders = new Map()
    sentParams = new Map()
    return ok("init", {
      clientName: "durastream-node",
      clientVersion: "0.1.0",
      features: {
        sse: true, longPoll: true, auto: true, streaming: true, batching: true,
        dynamicHeaders: true, retryOptions: true, strictZeroValidation: true, batchItems: true,
      },
    })
  },
  async create(cmd) {
    const ct = cmd.contentType ?? "application/octet-stream"
    const h = handle({ ...cmd })
    await h.create({ contentType: ct, ttlSeconds: cmd.ttlSeconds, expiresAt: cmd.expiresAt, closed: !!cmd.closed, body: cmd.data })
    contentTypes.set(cmd.path, h.contentType ?? ct)
    const r = ok("create", { status: h.lastCreate.status })
    if (h.lastCreate.nextOffset) r.offset = h.lastCreate.nextOffset
    return r
  },
  async connect(cmd) {
    const h = await DurableStream.connect({ url: serverUrl + cmd.path, headers: cmd.headers })
    learn(cmd.path, h)
    const info = await h.head()
    return ok("connect", { status: 200, offset: info.offset })
  },
  async append(cmd) {
    const h = handle(cmd)
    const r = await h.append(payload(cmd), { flatten: true, seq: cmd.seq === undefined ? undefined : String(cmd.seq) })
    learn(cmd.path, h)
    return report(ok("append", { status: 200, offset: r.offset }))
  },
  read,
  async head(cmd) {
    const h = handle(cmd)
    const info = await h.head()
    if (!info.exists) {
      // head() reports a missing stream as { exists: false }; the protocol wants the error.
      await DurableStream.connect({ url: serverUrl + cmd.path, headers: cmd.headers })
    }
    learn(cmd.path, h)
    const r = ok("head", { status: 200, offset: info.offset, streamClosed: info.streamClosed })
    if (info.contentType) r.contentType = info.contentType
    if (info.ttlSeconds !== undefined) r.ttlSeconds = info.ttlSeconds
    if (info.expiresAt !== undefined) r.expiresAt = info.expiresAt
    return r
  },
  async delete(cmd) {
    try {
      await handle(cmd).delete()
    } finally {
      contentTypes.delete(cmd.path)
      for (const k of producers.keys()) if (k.startsWith(`${cmd.path}|`)) producers.delete(k)
    }
    return ok("delete", { status: 200 })
  },
  async close(cmd) {
    const h = handle(cmd)
    const r = await h.close({ body: cmd.data || undefined, contentType: cmd.contentType })
    return ok("close", { finalOffset: r.finalOffset })
  },
  async "idempotent-append"(cmd) {
    const p = cachedProducer(cmd)
    p.append(cmd.data ?? "")
    await p.flush()
    const r = ok("idempotent-append", { status: 200, producerSeq: Math.max(0, p.nextSeq - 1) })
    if (p.lastSuccessfulOffset) r.offset = p.lastSuccessfulOffset
    return r
  },
  async "idempotent-append-batch"(cmd) {
    const inFlight = Math.max(1, cmd.maxInFlight ?? 1)
    const opts = { epoch: cmd.epoch ?? 0, autoClaim: !!cmd.autoClaim, maxInFlight: inFlight }
    if (inFlight > 1) {
      // Tiny batches so that several requests really are in flight at once.
      opts.maxBatchBytes = 1
      opts.lingerMs = 0
    }
    const p = new IdempotentProducer(handle(cmd), cmd.producerId ?? "", opts)
    for (const item of cmd.items ?? []) await p.appendWait(item)
    await p.flush()
    await p.detach()
    return ok("idempotent-append-batch", { status: 200, producerSeq: Math.max(0, p.nextSeq - 1) })
  },
  async "idempotent-close"(cmd) {
    const p = cachedProducer(cmd)
    const r = await p.close(cmd.data || undefined)
    return ok("idempotent-close", { status: 200, finalOffset: r.finalOffset })
  },
  async "idempotent-detach"(cmd) {
    const key = producerKey(cmd)
    const p = producers.get(key)
    producers.delete(key)
    if (p) await p.detach()
    return ok("idempotent-detach", { status: 200 })
  },
  "set-dynamic-header"(cmd) {
    const f = makeDynamic(cmd.valueType, cmd.initialValue, cmd.name, sentHeaders)
    if (!f) return plain("set-dynamic-header", "INVALID_ARGUMENT", `unknown valueType ${cmd.valueType}`)
    dynHeaders.set(cmd.name, f)
    return ok("set-dynamic-header")
  },
  "set-dynamic-param"(cmd) {
    const f = makeDynamic(cmd.valueType, undefined, cmd.name, sentParams)
    if (!f) return plain("set-dynamic-param", "INVALID_ARGUMENT", `unknown valueType ${cmd.valueType}`)
    dynParams.set(cmd.name, f)
    return ok("set-dynamic-param")
  },
  "clear-dynamic"() {
    dynHeaders.clear()
    dynParams.clear()
    sentHeaders.clear()
    sentParams.clear()
    return ok("clear-dynamic")
  },
  validate(cmd) {
    const t = cmd.target ?? {}
    if (t.target === "retry-options") {
      validateRetryOptions({ maxRetries: t.maxRetries, initialDelayMs: t.initialDelayMs, maxDelayMs: t.maxDelayMs, multiplier: t.multiplier })
    } else if (t.target === "idempotent-producer") {
      validateProducerOptions(t.producerId, { epoch: t.epoch, maxBatchBytes: t.maxBatchBytes, maxBatchItems: t.maxBatchItems, maxInFlight: t.maxInFlight, lingerMs: t.lingerMs })
    } else {
      return plain("validate", "NOT_SUPPORTED", `unknown validation target ${JSON.stringify(t.target)}`)
    }
    return ok("validate")
  },
  shutdown() {
    return ok("shutdown")
  },
}

async function handleLine(line) {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (e) {
    return plain("unknown", "PARSE_ERROR", `bad command line: ${e.message}`)
  }
  const f = commands[cmd.type]
  if (!f) return plain(cmd.type, "NOT_SUPPORTED", `unknown command ${JSON.stringify(cmd.type)}`)
  try {
    return await f(cmd)
  } catch (e) {
    return errorResult(cmd.type, e)
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of rl) {
  if (!line.trim()) continue
  const result = await handleLine(line)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  if (result.type === "shutdown") break
}
rl.close()
process.exit(0)

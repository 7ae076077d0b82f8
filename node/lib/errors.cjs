// Error classes. Which class and which fields an error gets is decided once, on the Rust
// side (src/error.rs); this file only instantiates the class it names.
"use strict"

const MARKER = "\u0000durastream:"

/** Base class of every error the client raises: a stable `code` plus the facts. */
class DurableStreamError extends Error {
  constructor(message, fields = {}) {
    super(message)
    this.name = new.target.name
    this.code = fields.code ?? "UNKNOWN"
    this.retryable = fields.retryable ?? false
    this.attempts = fields.attempts ?? 1
    for (const k of ["status", "url", "path", "expectedSeq", "receivedSeq", "currentEpoch",
      "finalOffset", "retryAfterMs", "argument", "field", "index", "offset"]) {
      if (fields[k] !== undefined) this[k] = fields[k]
    }
  }
}

const names = [
  "StreamNotFoundError", "StreamGoneError", "StreamConflictError", "StreamClosedError",
  "SequenceConflictError", "SequenceGapError", "StaleEpochError", "BadRequestError",
  "InvalidOffsetError", "UnauthorizedError", "UnexpectedStatusError", "RetryExhaustedError",
  "ParseError", "NetworkError", "TimeoutError", "InvalidArgumentError", "BufferFullError",
  "ProducerClosedError", "StateError",
]
const classes = { DurableStreamError }
for (const n of names) {
  classes[n] = { [n]: class extends DurableStreamError {} }[n]
}
Object.defineProperty(classes.StreamClosedError.prototype, "streamClosed", { value: true })

/** Thrown by the constructor when `url` is missing. */
class MissingStreamUrlError extends Error {
  constructor() {
    super("Invalid stream options: missing required url parameter")
    this.name = "MissingStreamUrlError"
  }
}

function abortError(signal) {
  if (signal?.reason !== undefined) return signal.reason
  return new DOMException("The operation was aborted", "AbortError")
}

/** Decodes an encoded native error (`MARKER` + JSON) into its class. */
function decode(text, signal) {
  const info = JSON.parse(text.slice(MARKER.length))
  if (info.class === "AbortError") return abortError(signal)
  const C = classes[info.class] ?? DurableStreamError
  return new C(info.message, info)
}

/** Any error thrown by the native addon, as the package's error classes. */
function fromNative(e, signal) {
  if (signal?.aborted) return abortError(signal)
  if (e && typeof e.message === "string" && e.message.startsWith(MARKER)) {
    return decode(e.message, signal)
  }
  return e
}

module.exports = { ...classes, MissingStreamUrlError, fromNative, decode, abortError }

// Runs native calls with an AbortSignal and the package's error classes.
"use strict"
const native = require("../native/index.cjs")
const { fromNative, abortError } = require("./errors.cjs")

const NEVER = new native.CancelToken()

/** Calls `fn(cancelToken)`; an abort of `signal` cancels the native call. */
async function call(signal, fn) {
  if (!signal) {
    try {
      return await fn(NEVER)
    } catch (e) {
      throw fromNative(e)
    }
  }
  if (signal.aborted) throw abortError(signal)
  const token = new native.CancelToken()
  const onAbort = () => token.cancel()
  signal.addEventListener("abort", onAbort, { once: true })
  try {
    return await fn(token)
  } catch (e) {
    throw fromNative(e, signal)
  } finally {
    signal.removeEventListener("abort", onAbort)
  }
}

/** The two signals as one (either may be absent). */
function anySignal(a, b) {
  if (!a) return b
  if (!b) return a
  return AbortSignal.any([a, b])
}

/** Runs a synchronous native call, mapping its error. */
function sync(fn) {
  try {
    return fn()
  } catch (e) {
    throw fromNative(e)
  }
}

module.exports = { native, call, anySignal, sync }

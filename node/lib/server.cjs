// The bundled server: the Rust durastream server running inside this process.
"use strict"
const { native, sync } = require("./call.cjs")
const { fromNative } = require("./errors.cjs")

/**
 * Starts the durastream server in-process. Streams live at `url + prefix + "/" + name`
 * (`prefix` defaults to `/v1/stream`). The server runs on the addon's runtime threads and
 * does not keep the process alive by itself; call `stop()` when done.
 */
class DurableStreamServer {
  #opts
  #native = null

  constructor(opts = {}) {
    this.#opts = opts
  }

  /** Starts the server; resolves to its root URL. */
  async start() {
    if (this.#native) return this.url
    const o = this.#opts
    try {
      this.#native = await native.NativeServer.start({
        host: o.host,
        port: o.port,
        dataDir: o.dataDir,
        prefix: o.prefix,
        longPollTimeoutMs: o.longPollTimeoutMs ?? o.longPollTimeout,
        sseMaxDurationMs: o.sseMaxDurationMs,
        maxReadBytes: o.maxReadBytes,
        maxBodyBytes: o.maxBodyBytes,
        testFaults: o.testFaults,
        authTokens: o.authTokens,
        authJwtSecret: o.authJwtSecret,
        authJwtPublicKeyPem: o.authJwtPublicKeyPem,
        authJwtJwksUrl: o.authJwtJwksUrl,
        corsOrigins: o.corsOrigins,
      })
    } catch (e) {
      throw fromNative(e)
    }
    return this.url
  }

  /** The root URL (`http://127.0.0.1:PORT`). */
  get url() {
    if (!this.#native) throw new Error("server is not started")
    return this.#native.url
  }

  /** The port it listens on. */
  get port() {
    return Number(new URL(this.url).port)
  }

  /** The stream URL prefix (`/v1/stream`, or `""` for root paths). */
  get prefix() {
    return this.#native ? this.#native.prefix : (this.#opts.prefix ?? "/v1/stream")
  }

  /** The full URL of the stream `name`. */
  streamUrl(name) {
    return `${this.url}${this.prefix}/${String(name).replace(/^\/+/, "")}`
  }

  /** Stops the server (graceful; stopping twice is harmless). */
  async stop() {
    const n = this.#native
    this.#native = null
    if (n) await sync(() => n.stop())
  }

  /** Adds a fault for the next request(s) to `path` (needs `testFaults: true`). */
  async injectFault(path, fault) {
    await this.#faults("POST", JSON.stringify({ count: 1, ...fault, path }))
  }

  /** Adds `status` errors for the next `count` requests to `path` (needs `testFaults`). */
  async injectError(path, status, count = 1, retryAfter) {
    await this.injectFault(path, { status, count, retryAfter })
  }

  /** Clears every injected fault. */
  async clearFaults() {
    await this.#faults("DELETE")
  }

  async #faults(method, body) {
    const r = await fetch(`${this.url}/_test/inject-error`, {
      method, body, headers: body ? { "content-type": "application/json" } : undefined,
    })
    if (!r.ok) throw new Error(`fault injection failed: ${r.status} ${await r.text()}`)
  }
}

/**
 * Drop-in for `@durable-streams/server`'s `DurableStreamTestServer`: streams at root paths
 * (`url + "/name"`), fault injection enabled, `longPollTimeout` in ms.
 */
class DurableStreamTestServer extends DurableStreamServer {
  constructor(opts = {}) {
    super({ prefix: "", testFaults: true, ...opts })
  }
}

module.exports = { DurableStreamServer, DurableStreamTestServer }

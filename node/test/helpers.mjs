// Shared test setup: one bundled server per test file.
import { after, before } from "node:test"
import { randomUUID } from "node:crypto"
import { DurableStreamServer } from "@durastream/client"

export function useServer(opts = {}) {
  const server = new DurableStreamServer({ longPollTimeoutMs: 500, testFaults: true, ...opts })
  before(async () => { await server.start() })
  after(async () => { await server.stop() })
  return {
    server,
    url: (prefix = "s") => server.streamUrl(`${prefix}-${randomUUID()}`),
  }
}

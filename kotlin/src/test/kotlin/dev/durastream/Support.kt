package dev.durastream

import java.util.UUID

/** One in-process server for the whole test run (memory engine, short long-poll). */
object Shared {
    val server: TestServer by lazy { TestServer.start(TestServerOptions(testFaults = true)) }
    val client: Client by lazy { Client() }

    /** A handle on a stream with a fresh name. */
    fun stream(prefix: String = "kt"): DurableStream =
        client.stream(server.streamUrl("$prefix-${UUID.randomUUID()}"))
}

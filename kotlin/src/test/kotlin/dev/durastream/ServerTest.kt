package dev.durastream

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

class ServerTest {
    @Test
    fun `urls of a started server`() {
        val url = Shared.server.url()
        assertTrue(url.matches(Regex("http://127\\.0\\.0\\.1:\\d+")), url)
        assertEquals("$url/v1/stream/abc", Shared.server.streamUrl("abc"))
    }

    @Test
    fun `custom prefix`() = runBlocking {
        TestServer.start(TestServerOptions(prefix = "/")).use { server ->
            assertEquals(server.url() + "/abc", server.streamUrl("abc"))
            val s = Client().stream(server.streamUrl("abc"))
            assertTrue(s.create(CreateOptions(contentType = "text/plain")).created)
            server.shutdown()
        }
    }

    @Test
    fun `file engine keeps streams across restarts`(@TempDir dir: Path) = runBlocking {
        val name = "durable"
        TestServer.start(TestServerOptions(dataDir = dir.toString())).use { server ->
            val s = Client().stream(server.streamUrl(name))
            s.create(CreateOptions(contentType = "text/plain"))
            s.appendText("persisted")
            server.shutdown()
        }
        TestServer.start(TestServerOptions(dataDir = dir.toString())).use { server ->
            val s = Client().stream(server.streamUrl(name))
            assertEquals("persisted", s.read().use { it.next()!!.text })
            server.shutdown()
        }
    }

    @Test
    fun `after shutdown requests fail with a network error`() = runBlocking {
        val server = TestServer.start()
        val url = server.streamUrl("gone")
        server.shutdown()
        server.shutdown() // a second shutdown does nothing
        server.close()
        val client = Client.withOptions(ClientOptions(retry = RetryConfig(maxRetries = 0)))
        val e = assertThrows<DurastreamException> { runBlocking { client.stream(url).head() } }
        assertTrue(e is DurastreamException.Network || e is DurastreamException.RetryExhausted, e.toString())
        assertTrue(e.info.retryable)
    }

    @Test
    fun `access control on the in-process server`() = runBlocking {
        val tokens = "reader-token-0123456789 read /\nwriter-token-0123456789 write /\n"
        TestServer.start(TestServerOptions(authTokens = tokens)).use { server ->
            val noRetry = RetryConfig(maxRetries = 0)
            fun client(token: String?) = Client.withOptions(
                ClientOptions(
                    headers = token?.let { mapOf("authorization" to "Bearer $it") } ?: emptyMap(),
                    retry = noRetry,
                ),
            )
            val url = server.streamUrl("guarded")
            val writer = client("writer-token-0123456789").stream(url)
            writer.create(CreateOptions(contentType = "text/plain"))
            writer.appendText("secret")
            val reader = client("reader-token-0123456789").stream(url)
            assertEquals("secret", reader.read().use { it.next()!!.text })
            val denied = assertThrows<DurastreamException> { runBlocking { reader.appendText("no") } }
            assertEquals(403, denied.status)
            val anonymous = assertThrows<DurastreamException> { runBlocking { client(null).stream(url).head() } }
            assertEquals(401, anonymous.status)
            server.shutdown()
        }
        val bad = assertThrows<DurastreamException> {
            TestServer.start(TestServerOptions(authTokens = "too-short read /"))
        }
        assertTrue(bad.toString().contains("auth"), bad.toString())
    }
}

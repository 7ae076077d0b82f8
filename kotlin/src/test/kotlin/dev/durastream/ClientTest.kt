package dev.durastream

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.atomic.AtomicInteger

class ClientTest {
    @Test
    fun `create append head and read back`() = runBlocking {
        val s = Shared.stream()
        val created = s.create(CreateOptions(contentType = "text/plain"))
        assertTrue(created.created)
        assertEquals(201.toUShort(), created.status)
        assertEquals("text/plain", s.contentType())

        val again = s.create(CreateOptions(contentType = "text/plain"))
        assertFalse(again.created)
        assertEquals(200.toUShort(), again.status)

        val a = s.appendText("hello ")
        val b = s.append("world".encodeToByteArray())
        assertTrue(b.nextOffset > a.nextOffset)

        val info = s.head()
        assertEquals(b.nextOffset, info.nextOffset)
        assertEquals("text/plain", info.contentType)
        assertFalse(info.closed)

        val text = s.read().use { r -> r.next()!!.text }
        assertEquals("hello world", text)
    }

    @Test
    fun `create with body ttl and closed`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain", ttlSeconds = 3600uL, body = "seed".encodeToByteArray(), closed = true))
        val info = s.head()
        assertTrue(info.closed)
        assertEquals(3600uL, info.ttlSeconds)
        val chunk = s.read().use { it.next() }
        assertNotNull(chunk)
        assertArrayEquals("seed".encodeToByteArray(), chunk!!.data)
        assertTrue(chunk.closed)
    }

    @Test
    fun `json append and batch`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "application/json"))
        s.appendJson("""{"n":1}""")
        s.appendJson("[1,2]") // an array stays one message
        s.appendJsonBatch(listOf("""{"n":2}""", "\"three\""))
        val items = s.readJson().use { r -> r.next()!!.items }
        assertEquals(listOf("""{"n":1}""", "[1,2]", """{"n":2}""", "\"three\""), items)
    }

    @Test
    fun `append with seq and delete`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain"))
        s.appendWith("a".encodeToByteArray(), AppendOptions(seq = "0001"))
        s.appendWith("b".encodeToByteArray(), AppendOptions(seq = "0002"))
        s.delete()
        assertThrows<DurastreamException.NotFound> { runBlocking { s.head() } }
        Unit
    }

    @Test
    fun `fork inherits the source`() = runBlocking {
        val src = Shared.stream()
        src.create(CreateOptions(contentType = "text/plain"))
        val cut = src.appendText("before").nextOffset
        src.appendText("-after")
        val fork = Shared.stream("fork")
        fork.createFork(ForkOptions(source = src.path(), offset = cut))
        fork.appendText("+fork")
        val text = fork.read().use { r -> buildString { while (true) append((r.next() ?: break).text) } }
        assertEquals("before+fork", text)
    }

    @Test
    fun `dynamic headers are asked on every request`() = runBlocking {
        val client = Client()
        val calls = AtomicInteger()
        client.setDynamicHeader("x-request-counter", headerProvider { calls.incrementAndGet().toString() })
        client.setParam("tenant", "t1")
        val s = client.stream(Shared.server.streamUrl("dyn-${java.util.UUID.randomUUID()}"))
        s.create(CreateOptions(contentType = "text/plain"))
        s.appendText("x")
        s.head()
        assertEquals(3, calls.get())
        client.clearDynamic()
        s.head()
        assertEquals(3, calls.get())
    }

    @Test
    fun `client options are validated`() {
        val e = assertThrows<DurastreamException.InvalidArgument> {
            Client.withOptions(ClientOptions(retry = RetryConfig(maxRetries = -1)))
        }
        assertEquals("maxRetries", e.info.argument)
        val ok = Client.withOptions(
            ClientOptions(
                headers = mapOf("x-app" to "tests"),
                retry = RetryConfig(maxRetries = 2, initialDelayMs = 10.0),
                timeouts = TimeoutConfig(requestMs = 5_000uL),
            ),
        )
        ok.use { c -> runBlocking { c.stream(Shared.server.streamUrl("opt-${java.util.UUID.randomUUID()}")).create() } }
        Unit
    }

    @Test
    fun `stream handle with an extra header`() = runBlocking {
        val s = Shared.stream().withHeader("x-trace", "abc")
        assertTrue(s.create(CreateOptions(contentType = "text/plain")).created)
        assertThrows<DurastreamException.InvalidArgument> { Shared.stream().withHeader("bad header", "x") }
        Unit
    }

    @Test
    fun `invalid url is an invalid argument`() {
        val e = assertThrows<DurastreamException.InvalidArgument> { Shared.client.stream("ftp://x/y") }
        assertEquals("url", e.info.argument)
        assertEquals("INVALID_ARGUMENT", e.code)
    }
}

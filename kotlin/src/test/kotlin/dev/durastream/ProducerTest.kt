package dev.durastream

import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference

class ProducerTest {
    private suspend fun stream(contentType: String): DurableStream =
        Shared.stream("prod").also { it.create(CreateOptions(contentType = contentType)) }

    private suspend fun readText(s: DurableStream): String =
        s.read().use { r -> r.chunks().toList().joinToString("") { it.text } }

    @Test
    fun `append never waits and flush acknowledges everything`() = runBlocking {
        val s = stream("text/plain")
        s.producer("p1").use { p ->
            for (i in 0 until 1000) p.appendText("$i,")
            p.flush()
            assertEquals(0uL, p.bufferedBytes())
            assertTrue(p.lastOffset() != null)
            assertEquals("p1", p.id())
            assertEquals(0uL, p.epoch())
        }
        assertEquals((0 until 1000).joinToString("") { "$it," }, readText(s))
    }

    @Test
    fun `withProducer detaches and leaves the stream open`() = runBlocking {
        val s = stream("application/json")
        val n = s.withProducer("p2") { p ->
            p.appendValue(Message("ada", "one"))
            p.appendJson("""{"user":"bob","text":"two"}""")
            2
        }
        assertEquals(2, n)
        val users = s.readJson().use { it.decodeItems<Message>().toList() }.map { it.user }
        assertEquals(listOf("ada", "bob"), users)
        assertTrue(!s.head().closed)
    }

    @Test
    fun `closeStream with a final message is idempotent`() = runBlocking {
        val s = stream("text/plain")
        s.producer("p3").use { p ->
            p.appendText("body;")
            val first = p.closeStream("end".encodeToByteArray())
            val second = p.closeStream()
            assertEquals(first.finalOffset, second.finalOffset)
        }
        assertEquals("body;end", readText(s))
        assertTrue(s.head().closed)
    }

    @Test
    fun `invalid json is refused before sending`() = runBlocking {
        val s = stream("application/json")
        s.producer("p4").use { p ->
            p.appendJson("""{"ok":true}""")
            val e = assertThrows<DurastreamException.Parse> { p.appendJson("{broken") }
            assertEquals("PARSE_ERROR", e.code)
            p.flush()
        }
    }

    @Test
    fun `a stale epoch reaches the listener and the next awaited call`() = runBlocking {
        val s = stream("text/plain")
        s.producer("p5", ProducerOptions(epoch = 5)).use { newer ->
            newer.appendText("new;")
            newer.flush()
        }
        val seen = AtomicReference<DurastreamException>()
        val latch = CountDownLatch(1)
        val listener = producerErrorListener { seen.set(it); latch.countDown() }
        s.producer("p5", ProducerOptions(epoch = 1), listener).use { old ->
            old.appendText("zombie;")
            val e = assertThrows<DurastreamException.StaleEpoch> { runBlocking { old.flush() } }
            assertEquals(5uL, e.info.currentEpoch)
            assertTrue(latch.await(5, TimeUnit.SECONDS))
            assertTrue(seen.get() is DurastreamException.StaleEpoch)
            assertTrue(old.error() is DurastreamException.StaleEpoch)
            assertEquals(6uL, old.restart())
            old.appendText("restarted;")
            old.flush()
        }
        assertEquals("new;restarted;", readText(s))
    }

    @Test
    fun `auto claim takes over a newer epoch`() = runBlocking {
        val s = stream("text/plain")
        s.withProducer("p6", ProducerOptions(epoch = 3)) { it.appendText("a;") }
        s.producer("p6", ProducerOptions(autoClaim = true)).use { p ->
            p.appendText("b;")
            p.flush()
            assertEquals(4uL, p.epoch())
        }
        assertEquals("a;b;", readText(s))
    }

    @Test
    fun `buffer full without waiting, appendWait waits for room`() = runBlocking {
        val s = stream("text/plain")
        s.producer("p7", ProducerOptions(maxBufferedBytes = 8, lingerMs = 50.0)).use { p ->
            p.appendText("12345678")
            assertThrows<DurastreamException.BufferFull> { p.appendText("9") }
            p.appendWait("9".encodeToByteArray())
            p.flush()
        }
        assertEquals("123456789", readText(s))
    }

    @Test
    fun `pipelined batches arrive in order`() = runBlocking {
        val s = stream("text/plain")
        s.withProducer("p8", ProducerOptions(maxInFlight = 4, maxBatchBytes = 16, lingerMs = 0.0)) { p ->
            for (i in 0 until 200) p.appendWait("$i;".encodeToByteArray())
        }
        assertEquals((0 until 200).joinToString("") { "$it;" }, readText(s))
    }

    @Test
    fun `a detached producer refuses appends`() = runBlocking {
        val s = stream("text/plain")
        s.producer("p9").use { p ->
            p.appendText("x")
            p.detach()
            assertThrows<DurastreamException.ProducerClosed> { p.appendText("y") }
        }
        Unit
    }
}

package dev.durastream

import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

@Serializable
data class Message(val user: String, val text: String)

class ReaderTest {
    private suspend fun textStream(vararg parts: String): DurableStream {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain"))
        for (p in parts) s.appendText(p)
        return s
    }

    @Test
    fun `catch-up flow ends when up to date`() = runBlocking {
        val s = textStream("a", "b", "c")
        val chunks = s.read().use { it.chunks().toList() }
        assertEquals("abc", chunks.joinToString("") { it.text })
        assertTrue(chunks.last().upToDate)
    }

    @Test
    fun `reader reports its position and resumes from an offset`() = runBlocking {
        val s = textStream("first")
        val offset = s.read().use { r ->
            r.next()
            assertNull(r.next())
            assertTrue(r.isDone())
            r.offset()!!
        }
        s.appendText("second")
        val rest = s.read(ReadOptions(offset = offset)).use { r -> r.chunks().toList() }
        assertEquals("second", rest.joinToString("") { it.text })
    }

    @Test
    fun `json items decode with kotlinx serialization`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "application/json"))
        s.appendValue(Message("ada", "hi"))
        s.appendValues(listOf(Message("bob", "yo"), Message("cy", "hey")))
        val msgs = s.readJson().use { it.decodeItems<Message>().toList() }
        assertEquals(listOf("ada", "bob", "cy"), msgs.map { it.user })
        val raw = s.readJson().use { it.items().map { e -> e.jsonObject["text"]!!.jsonPrimitive.content }.toList() }
        assertEquals(listOf("hi", "yo", "hey"), raw)
    }

    @Test
    fun `long-poll delivers data appended later`() = runBlocking {
        val s = textStream()
        s.read(ReadOptions(offset = "now", live = LiveMode.LONG_POLL)).use { r ->
            val got = async { r.chunks().first { !it.empty } }
            delay(100)
            s.appendText("live!")
            assertEquals("live!", withTimeout(10_000) { got.await() }.text)
        }
    }

    @Test
    fun `sse delivers json messages live`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "application/json"))
        s.readJson(ReadOptions(live = LiveMode.SSE)).use { r ->
            val got = async { r.items().take(2).toList() }
            delay(100)
            s.appendJson("""{"n":1}""")
            s.appendJson("""{"n":2}""")
            val items = withTimeout(10_000) { got.await() }
            assertEquals(listOf(1, 2), items.map { it.jsonObject["n"]!!.jsonPrimitive.int })
        }
    }

    @Test
    fun `auto mode ends at stream close`() = runBlocking {
        val s = textStream("x")
        s.read(ReadOptions(live = LiveMode.AUTO)).use { r ->
            val all = async { r.chunks().toList() }
            delay(100)
            s.appendText("y")
            s.closeStream()
            val chunks = withTimeout(10_000) { all.await() }
            assertEquals("xy", chunks.joinToString("") { it.text })
            assertTrue(chunks.last().closed)
        }
    }

    @Test
    fun `nextBatch takes what is there without waiting for live data`() = runBlocking {
        val s = textStream("1", "2", "3")
        s.read(ReadOptions(live = LiveMode.LONG_POLL)).use { r ->
            val batch = withTimeout(5_000) { r.nextBatch(10u) }
            assertTrue(batch.isNotEmpty())
            assertTrue(batch.last().upToDate)
            assertEquals("123", batch.joinToString("") { it.text })
        }
    }

    @Test
    fun `cancel stops a waiting read`() = runBlocking {
        val s = textStream("a")
        s.read(ReadOptions(offset = "now", live = LiveMode.LONG_POLL)).use { r ->
            val waiting = async { r.next() }
            delay(200)
            r.cancel()
            assertNull(withTimeout(5_000) { waiting.await() })
            assertNull(r.next())
            assertTrue(r.isDone())
        }
    }

    @Test
    fun `cancelling the collector stops the flow`() = runBlocking {
        val s = textStream("a")
        s.read(ReadOptions(live = LiveMode.SSE)).use { r ->
            val first = withTimeout(10_000) { r.chunks().first() }
            assertEquals("a", first.text)
        }
    }
}

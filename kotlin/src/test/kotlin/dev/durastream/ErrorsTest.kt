package dev.durastream

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class ErrorsTest {
    private fun <T> failing(block: suspend () -> T): DurastreamException =
        assertThrows<DurastreamException> { runBlocking { block() } }

    @Test
    fun `not found carries status url and path`() {
        val s = Shared.stream("missing")
        val e = failing { s.head() }
        assertTrue(e is DurastreamException.NotFound)
        assertEquals("NOT_FOUND", e.code)
        assertEquals(404, e.status)
        assertEquals(s.url(), e.info.url)
        assertEquals(s.path(), e.info.streamPath)
        assertFalse(e.info.retryable)
        assertTrue(e.description.isNotEmpty())
        assertTrue(e.message!!.contains("NOT_FOUND"))
    }

    @Test
    fun `conflicting create`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain"))
        val e = failing { s.create(CreateOptions(contentType = "application/json")) }
        assertTrue(e is DurastreamException.Conflict, e.toString())
        assertEquals(409, e.status)
    }

    @Test
    fun `append to a closed stream reports the final offset`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain"))
        s.appendText("x")
        val closed = s.closeStream()
        val e = failing { s.appendText("y") }
        assertTrue(e is DurastreamException.StreamClosed, e.toString())
        assertEquals("STREAM_CLOSED", e.code)
        assertEquals(closed.finalOffset, e.info.finalOffset)
    }

    @Test
    fun `sequence conflict`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain"))
        s.appendWith("a".encodeToByteArray(), AppendOptions(seq = "0002"))
        val e = failing { s.appendWith("b".encodeToByteArray(), AppendOptions(seq = "0001")) }
        assertTrue(e is DurastreamException.SequenceConflict, e.toString())
        assertEquals(409, e.status)
    }

    @Test
    fun `malformed offset`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain"))
        val e = failing { s.read(ReadOptions(offset = "not-an-offset")).use { it.next() } }
        assertTrue(e is DurastreamException.InvalidOffset, e.toString())
        assertEquals(400, e.status)
    }

    @Test
    fun `empty append is a bad request`() = runBlocking {
        val s = Shared.stream()
        s.create(CreateOptions(contentType = "text/plain"))
        val e = failing { s.append(ByteArray(0)) }
        assertTrue(e is DurastreamException.BadRequest, e.toString())
        assertEquals(400, e.status)
    }

    @Test
    fun `invalid json argument`() {
        val s = Shared.stream()
        val e = failing { s.appendJson("{nope") }
        assertTrue(e is DurastreamException.InvalidArgument)
        assertEquals("json", e.info.argument)
    }

    @Test
    fun `validation names the option`() {
        val retry = assertThrows<DurastreamException.InvalidArgument> {
            validateRetryOptions(RetryConfig(initialDelayMs = 1000.0, maxDelayMs = 10.0))
        }
        assertEquals("maxDelayMs", retry.info.argument)
        assertTrue(retry.info.message.contains("maxDelayMs"))
        val producer = assertThrows<DurastreamException.InvalidArgument> {
            validateProducerOptions(ProducerOptions(maxBatchItems = 0), "p")
        }
        assertEquals("maxBatchItems", producer.info.argument)
        val id = assertThrows<DurastreamException.InvalidArgument> { validateProducerOptions(ProducerOptions(), "") }
        assertEquals("producerId", id.info.argument)
        validateRetryOptions(RetryConfig(maxRetries = 3))
        validateProducerOptions(ProducerOptions(epoch = 2, maxInFlight = 3))
    }

    @Test
    fun `every kind has its own exception class`() {
        val classes = DurastreamException::class.java.declaredClasses
            .filter { DurastreamException::class.java.isAssignableFrom(it) }
            .map { it.simpleName }.toSet()
        assertEquals(19, classes.size)
        assertNotNull(classes.find { it == "SequenceGap" })
        assertNotNull(classes.find { it == "State" })
    }
}

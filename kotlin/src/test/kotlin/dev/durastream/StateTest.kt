package dev.durastream

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.onSubscription
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.nio.file.Files

@Serializable
data class Presence(val status: String, val since: Int = 0)

class StateTest {
    private val fixtures = File("../tests/state/fixtures")

    /** JSON equality where numbers compare by value. */
    private fun same(a: JsonElement, b: JsonElement): Boolean = when {
        a is JsonPrimitive && b is JsonPrimitive && !a.isString && !b.isString &&
            a.doubleOrNull != null && b.doubleOrNull != null -> a.doubleOrNull == b.doubleOrNull
        a is JsonArray && b is JsonArray -> a.size == b.size && a.indices.all { same(a[it], b[it]) }
        a is JsonObject && b is JsonObject -> a.keys == b.keys && a.keys.all { same(a[it]!!, b[it]!!) }
        else -> a == b
    }

    private fun nonEmpty(state: JsonElement) =
        JsonObject(state.jsonObject.filterValues { it.jsonObject.isNotEmpty() })

    @Test
    fun `every shared fixture materializes to its expected result`() {
        val files = fixtures.listFiles { f -> f.name.endsWith(".json") }!!.sortedBy { it.name }
        assertTrue(files.size >= 10, "fixtures: ${files.size}")
        for (f in files) {
            val doc = Json.parseToJsonElement(f.readText()).jsonObject
            val s = MaterializedState()
            val out = s.applyJson(doc["events"].toString(), true)
            val expected = doc["expected"]!!.jsonObject
            assertEquals(expected["malformed"]!!.jsonArray.map { it.jsonPrimitiveInt() }, out.malformed.map { it.index!!.toInt() }, f.name)
            assertTrue(out.malformed.all { it.code == "MALFORMED_EVENT" && it.field != null }, f.name)
            assertTrue(same(Json.parseToJsonElement(s.toJson()), nonEmpty(expected["state"]!!)), f.name)
            // The quiet form applies the same events and lists no change.
            val quiet = MaterializedState()
            val count = quiet.applyJsonQuiet(doc["events"].toString(), true)
            assertEquals(out.changes.size.toULong(), count.applied, f.name)
            assertEquals(out.malformed, count.malformed, f.name)
            assertEquals(s.toJson(), quiet.toJson(), f.name)
        }
    }

    private fun JsonElement.jsonPrimitiveInt() = (this as JsonPrimitive).int

    @Test
    fun `entities decode with kotlinx serialization and changes carry previous values`() {
        val s = MaterializedState()
        val events = listOf(
            StateEvents.insert("presence", "ann", Presence("online", 1)),
            StateEvents.update("presence", "ann", Presence("away", 2), oldValue = Presence("online", 1)),
            StateEvents.insert("presence", "bob", Presence("online")),
            StateEvents.delete("presence", "bob"),
            StateEvents.delete("presence", "nobody"),
            StateEvents.control("snapshot-start", "7"),
        )
        val out = s.applyJson(events.joinToString(",", "[", "]"), false)
        assertEquals(listOf(ChangeKind.SET, ChangeKind.SET, ChangeKind.SET, ChangeKind.DELETE, ChangeKind.DELETE, ChangeKind.SNAPSHOT_START), out.changes.map { it.kind })
        assertEquals(Presence("online", 1), out.changes[1].previousAs<Presence>())
        assertEquals(Presence("away", 2), out.changes[1].valueAs<Presence>())
        assertNull(out.changes[4].previous)
        assertEquals("7", out.changes[5].offset)
        assertEquals(Presence("away", 2), s.getValue<Presence>("presence", "ann"))
        assertEquals(mapOf("ann" to Presence("away", 2)), s.getAll<Presence>("presence"))
        assertNull(s.getValue<Presence>("presence", "bob"))
        assertTrue(s.inSnapshot())
        assertEquals(listOf("presence"), s.types())
        s.clear()
        assertEquals(0uL, s.total())
    }

    @Test
    fun `malformed events are State errors naming the field`() {
        val s = MaterializedState()
        val e = assertThrows<DurastreamException.State> {
            s.applyJson("""[{"type":"t","key":"a","value":1,"headers":{"operation":"insert"}},{"type":"t","key":"b","headers":{"operation":"explode"}}]""", false)
        }
        assertEquals("MALFORMED_EVENT", e.code)
        assertEquals("headers.operation", e.field)
        assertEquals(1uL, e.index)
        assertEquals(0uL, s.total(), "a batch holding a malformed event applies nothing")
        val ts = assertThrows<DurastreamException.State> {
            StateEvents.insert("t", "k", 1, headers = mapOf("timestamp" to "yesterday"))
        }
        assertEquals("headers.timestamp", ts.field)
        assertThrows<DurastreamException.State> { MaterializedState.fromJson("[1]") }
    }

    @Test
    fun `events written here are read by the npm package`() {
        val events = listOf(
            StateEvents.insert("presence", "ann", Presence("online", 1), mapOf("txid" to "t1", "timestamp" to "2025-01-15T10:30:00Z")),
            StateEvents.upsert("room", "lobby", mapOf("big" to 12345678901234L)),
            StateEvents.update("presence", "ann", Presence("away"), oldValue = Presence("online", 1)),
            StateEvents.insert("presence", "bob", Presence("online")),
            StateEvents.delete("presence", "bob"),
            StateEvents.control("snapshot-start", "0_1"),
            StateEvents.insert("room", "ünï", mapOf("text" to "\u0000 \" \\ \n")),
            StateEvents.control("snapshot-end", "0_2"),
            StateEvents.insert("gone", "g", 1),
            StateEvents.control("reset", "0_3"),
            StateEvents.insert("room", "after-reset", true),
        )
        val s = MaterializedState()
        val array = events.joinToString(",", "[", "]")
        s.applyJson(array, false)
        val file = Files.createTempFile("kotlin-events", ".json").toFile()
        try {
            file.writeText("""{"events":$array,"state":${s.toJson()}}""")
            val p = ProcessBuilder("node", "check-core-events.mjs", file.absolutePath)
                .directory(File("../tests/state/npm")).redirectErrorStream(true).start()
            val output = p.inputStream.bufferedReader().readText()
            assertEquals(0, p.waitFor(), output)
            assertTrue(output.contains(" 0 failed"), output)
        } finally {
            file.delete()
        }
    }

    private suspend fun stateStream(): DurableStream =
        Shared.stream("state").also { it.create(CreateOptions(contentType = "application/json")) }

    @Test
    fun `LiveState is a StateFlow of the state and a Flow of changes`() = runBlocking {
        val s = stateStream()
        s.withProducer("writer") { p ->
            StateWriter(p).insert("presence", "ann", Presence("online"))
        }
        val scope = CoroutineScope(Dispatchers.Default)
        s.liveState(scope).use { live ->
            withTimeout(10_000) { live.consistent.first { it } }
            assertEquals(Presence("online"), live.state.value.getValue<Presence>("presence", "ann"))
            val subscribed = CompletableDeferred<Unit>()
            val next = async { live.changes.onSubscription { subscribed.complete(Unit) }.take(2).toList() }
            subscribed.await()
            s.withProducer("writer-2") { p ->
                val w = StateWriter(p)
                w.update("presence", "ann", Presence("away"))
                w.insert("presence", "bob", Presence("online"))
            }
            val changes = withTimeout(10_000) { next.await() }
            assertEquals(listOf("ann", "bob"), changes.map { it.key })
            withTimeout(10_000) { live.state.first { it.size("presence") == 2uL } }
            assertEquals(Presence("away"), live.state.value.getValue<Presence>("presence", "ann"))
        }
    }

    @Test
    fun `a checkpoint resumes without replay and snapshots are not consistent`() = runBlocking {
        val s = stateStream()
        s.appendJson(StateEvents.control("snapshot-start"))
        s.appendJson(StateEvents.insert("flag", "dark", true))
        StateFollower(s, StateFollowerOptions(live = LiveMode.OFF)).use { f ->
            val u = f.next()!!
            assertTrue(u.upToDate)
            assertFalse(u.consistent)
            assertNull(f.next())
        }
        s.appendJson(StateEvents.control("snapshot-end"))
        val saved = StateFollower(s, StateFollowerOptions(live = LiveMode.OFF)).use { f ->
            f.updates().toList()
            assertTrue(f.isConsistent())
            f.checkpoint()
        }
        s.appendJson(StateEvents.insert("flag", "beta", false))
        StateFollower(s, StateFollowerOptions(checkpoint = saved, live = LiveMode.OFF)).use { f ->
            assertEquals(true, f.state().getValue<Boolean>("flag", "dark"))
            assertEquals(listOf("beta"), f.changes().toList().map { it.key })
        }
        val bad = assertThrows<DurastreamException.State> { StateFollower(s, StateFollowerOptions(checkpoint = "{}")) }
        assertEquals("BAD_CHECKPOINT", bad.code)
    }

    @Test
    fun `malformed events are skipped and reported, or stop the follower`() = runBlocking {
        val s = stateStream()
        s.appendJson(StateEvents.insert("t", "a", 1))
        s.appendJson("""{"type":"t","key":"b","headers":{"operation":"teleport"}}""")
        StateFollower(s, StateFollowerOptions(live = LiveMode.OFF)).use { f ->
            val u = f.next()!!
            assertEquals(1, u.changes.size)
            assertEquals("headers.operation", u.malformed.single().field)
        }
        StateFollower(s, StateFollowerOptions(live = LiveMode.OFF, stopOnMalformed = true)).use { f ->
            assertEquals("MALFORMED_EVENT", assertThrows<DurastreamException.State> { runBlocking { f.next() } }.code)
            assertEquals("STOPPED", assertThrows<DurastreamException.State> { runBlocking { f.next() } }.code)
        }
    }
}

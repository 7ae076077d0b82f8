// Client-conformance adapter for the Kotlin package (shared/conformance/client/
// ADAPTER_PROTOCOL.md): one JSON command per stdin line, exactly one JSON result per stdout
// line, in order. Every command becomes calls on the public Kotlin API; the adapter holds
// no protocol logic, only argument conversion, the per-path handle and producer caches the
// protocol asks for, and the mapping of errors to the protocol's codes. It mirrors
// tests/conformance/rust-adapter. Started by kotlin/conformance-adapter. Logs go to stderr.
package dev.durastream.conformance

import dev.durastream.AppendOptions
import dev.durastream.Chunk
import dev.durastream.Client
import dev.durastream.CreateOptions
import dev.durastream.DurableStream
import dev.durastream.DurastreamException
import dev.durastream.LiveMode
import dev.durastream.Producer
import dev.durastream.ProducerOptions
import dev.durastream.ReadOptions
import dev.durastream.RetryConfig
import dev.durastream.headerProvider
import dev.durastream.info
import dev.durastream.libraryVersion
import dev.durastream.validateProducerOptions
import dev.durastream.validateRetryOptions
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.contentOrNull
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import java.nio.ByteBuffer
import java.nio.charset.CharacterCodingException
import java.nio.charset.CodingErrorAction
import java.util.Base64
import java.util.concurrent.atomic.AtomicLong

private fun JsonObject.str(key: String): String? = (this[key] as? JsonPrimitive)?.takeIf { it.isString }?.content
private fun JsonObject.num(key: String): Double? = (this[key] as? JsonPrimitive)?.doubleOrNull
private fun JsonObject.int(key: String): Long? = num(key)?.toLong()
private fun JsonObject.bool(key: String): Boolean = (this[key] as? JsonPrimitive)?.booleanOrNull ?: false

/** A success result of [type] with extra fields. */
private fun ok(type: String, extra: Map<String, JsonElement> = emptyMap()) = JsonObject(
    mapOf("type" to JsonPrimitive(type), "success" to JsonPrimitive(true)) + extra,
)

/** An error result not caused by the client. */
private fun plain(type: String, code: String, message: String) = buildJsonObject {
    put("type", "error"); put("success", false); put("commandType", type)
    put("errorCode", code); put("message", message)
}

/** The protocol's errorCode for a client error (as the Rust adapter maps them). */
private fun code(e: DurastreamException): String = when (e) {
    is DurastreamException.NotFound -> "NOT_FOUND"
    is DurastreamException.InvalidOffset -> "INVALID_OFFSET"
    is DurastreamException.SequenceConflict -> "SEQUENCE_CONFLICT"
    is DurastreamException.StreamClosed -> "STREAM_CLOSED"
    is DurastreamException.Parse -> "PARSE_ERROR"
    is DurastreamException.InvalidArgument -> "INVALID_ARGUMENT"
    is DurastreamException.Conflict -> "CONFLICT"
    is DurastreamException.Network -> "NETWORK_ERROR"
    is DurastreamException.Timeout -> "TIMEOUT"
    is DurastreamException.StaleEpoch -> "STALE_EPOCH"
    is DurastreamException.SequenceGap -> "SEQUENCE_GAP"
    is DurastreamException.ProducerClosed -> "CLOSED"
    else -> "UNEXPECTED_STATUS"
}

private fun errorResult(type: String, e: DurastreamException) = buildJsonObject {
    put("type", "error"); put("success", false); put("commandType", type)
    put("errorCode", code(e)); put("message", e.info.message)
    e.info.status?.let { put("status", it.toInt()) }
}

/** Whitespace outside strings removed; every string and number kept as spelled. */
private fun minify(text: String): String {
    val out = StringBuilder(text.length)
    var inString = false
    var escaped = false
    for (c in text) {
        if (inString) {
            out.append(c)
            when {
                escaped -> escaped = false
                c == '\\' -> escaped = true
                c == '"' -> inString = false
            }
        } else if (c == '"') {
            inString = true; out.append(c)
        } else if (!c.isWhitespace()) {
            out.append(c)
        }
    }
    return out.toString()
}

private fun utf8OrNull(bytes: ByteArray): String? = try {
    Charsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT)
        .decode(ByteBuffer.wrap(bytes)).toString()
} catch (_: CharacterCodingException) {
    null
}

/** `{data, binary?, offset}`: JSON compacted, other text as is, other bytes base64. */
private fun chunkJson(c: Chunk): JsonObject = buildJsonObject {
    val text = utf8OrNull(c.data)
    when {
        text == null -> { put("data", Base64.getEncoder().encodeToString(c.data)); put("binary", true) }
        c.json -> put("data", minify(text))
        else -> put("data", text)
    }
    put("offset", c.nextOffset)
}

/** Dynamic header and parameter definitions, and the last value each produced. */
private class Dynamic {
    val headers = sortedMapOf<String, String>()
    val params = sortedMapOf<String, String>()

    fun make(kind: String, initial: String?, name: String, record: MutableMap<String, String>): dev.durastream.HeaderProvider {
        synchronized(record) { record.remove(name) }
        val produce: () -> String = when (kind) {
            "counter" -> { val n = AtomicLong(); { n.incrementAndGet().toString() } }
            "timestamp" -> { { System.currentTimeMillis().toString() } }
            "token" -> { val v = initial ?: ""; { v } }
            else -> throw IllegalArgumentException("unknown valueType \"$kind\"")
        }
        return headerProvider { produce().also { v -> synchronized(record) { record[name] = v } } }
    }

    fun report(into: MutableMap<String, JsonElement>) {
        for ((key, map) in listOf("headersSent" to headers, "paramsSent" to params)) {
            synchronized(map) {
                if (map.isNotEmpty()) into[key] = JsonObject(map.mapValues { JsonPrimitive(it.value) })
            }
        }
    }

    fun clear() {
        synchronized(headers) { headers.clear() }
        synchronized(params) { params.clear() }
    }
}

private class Adapter {
    var client: Client? = null
    var serverUrl = ""
    val handles = HashMap<String, DurableStream>()
    val producers = HashMap<Triple<String, String, Long>, Producer>()
    var dynamic = Dynamic()

    suspend fun handle(type: String, cmd: JsonObject): JsonObject {
        if (type == "init") return init(cmd)
        if (type == "shutdown") return ok("shutdown")
        if (client == null && type != "validate") return plain(type, "INTERNAL_ERROR", "init has not been received")
        return try {
            when (type) {
                "create" -> create(cmd)
                "connect" -> connect(cmd)
                "append" -> append(cmd)
                "read" -> read(cmd)
                "head" -> head(cmd)
                "delete" -> delete(cmd)
                "close" -> close(cmd)
                "idempotent-append" -> idempotentAppend(cmd)
                "idempotent-append-batch" -> idempotentAppendBatch(cmd)
                "idempotent-close" -> idempotentClose(cmd)
                "idempotent-detach" -> idempotentDetach(cmd)
                "set-dynamic-header", "set-dynamic-param", "clear-dynamic" -> dynamicCmd(type, cmd)
                "validate" -> validate(cmd)
                else -> plain(type, "NOT_SUPPORTED", "unknown command \"$type\"")
            }
        } catch (e: DurastreamException) {
            errorResult(type, e)
        }
    }

    fun init(cmd: JsonObject): JsonObject {
        client?.clearDynamic()
        producers.values.forEach { it.close() }
        producers.clear()
        handles.values.forEach { it.close() }
        handles.clear()
        dynamic = Dynamic()
        serverUrl = (cmd.str("serverUrl") ?: "").trimEnd('/')
        client?.close()
        client = Client()
        val features = listOf(
            "sse", "longPoll", "auto", "streaming", "batching", "dynamicHeaders",
            "retryOptions", "strictZeroValidation", "batchItems",
        ).associateWith { JsonPrimitive(true) }
        return ok(
            "init",
            mapOf(
                "clientName" to JsonPrimitive("durastream-kotlin"),
                "clientVersion" to JsonPrimitive(libraryVersion()),
                "features" to JsonObject(features),
            ),
        )
    }

    /** The cached handle for a path (created on first use). */
    fun stream(cmd: JsonObject): DurableStream {
        val path = cmd.str("path") ?: "/"
        return handles.getOrPut(path) { client!!.stream(serverUrl + path) }
    }

    /** The handle with the command's extra headers. */
    fun streamWithHeaders(cmd: JsonObject): DurableStream {
        var s = stream(cmd)
        (cmd["headers"] as? JsonObject)?.forEach { (k, v) ->
            val text = (v as? JsonPrimitive)?.takeIf { it.isString }?.content ?: v.toString()
            s = s.withHeader(k, text)
        }
        return s
    }

    fun payload(cmd: JsonObject): ByteArray {
        val data = cmd.str("data") ?: ""
        if (!cmd.bool("binary")) return data.encodeToByteArray()
        return try {
            Base64.getDecoder().decode(data)
        } catch (e: IllegalArgumentException) {
            throw AdapterError("INVALID_ARGUMENT", "binary data is not base64: ${e.message}")
        }
    }

    suspend fun create(cmd: JsonObject): JsonObject {
        val s = streamWithHeaders(cmd)
        val r = s.create(
            CreateOptions(
                contentType = cmd.str("contentType") ?: "application/octet-stream",
                closed = cmd.bool("closed"),
                ttlSeconds = cmd.int("ttlSeconds")?.takeIf { it >= 0 }?.toULong(),
                expiresAt = cmd.str("expiresAt"),
                body = cmd.str("data")?.encodeToByteArray(),
            ),
        )
        val extra = mutableMapOf<String, JsonElement>("status" to JsonPrimitive(r.status.toInt()))
        r.nextOffset?.let { extra["offset"] = JsonPrimitive(it) }
        return ok("create", extra)
    }

    suspend fun connect(cmd: JsonObject): JsonObject {
        val info = streamWithHeaders(cmd).head()
        return ok("connect", mapOf("status" to JsonPrimitive(200), "offset" to JsonPrimitive(info.nextOffset)))
    }

    suspend fun append(cmd: JsonObject): JsonObject {
        val s = streamWithHeaders(cmd)
        val r = s.appendWith(payload(cmd), AppendOptions(seq = cmd.int("seq")?.toString()))
        val extra = mutableMapOf<String, JsonElement>("status" to JsonPrimitive(200), "offset" to JsonPrimitive(r.nextOffset))
        dynamic.report(extra)
        return ok("append", extra)
    }

    suspend fun read(cmd: JsonObject): JsonObject {
        val s = streamWithHeaders(cmd)
        val liveField = cmd["live"] as? JsonPrimitive
        val live = when {
            liveField == null -> LiveMode.OFF
            liveField.isString && liveField.content == "long-poll" -> LiveMode.LONG_POLL
            liveField.isString && liveField.content == "sse" -> LiveMode.SSE
            !liveField.isString && liveField.booleanOrNull == true -> LiveMode.AUTO
            else -> LiveMode.OFF
        }
        val start = cmd.str("offset")
        val timeoutMs = (cmd.int("timeoutMs") ?: 5000).coerceAtLeast(0)
        val maxChunks = (cmd.int("maxChunks") ?: 100).coerceAtLeast(1)
        val waitUpToDate = cmd.bool("waitForUpToDate")
        val deadline = System.nanoTime() + timeoutMs * 1_000_000

        val chunks = mutableListOf<JsonElement>()
        var lastOffset: String? = null
        var cursor: String? = null
        var upToDate = false
        var closed = false
        var lastStatus = 200
        s.read(ReadOptions(offset = start, live = live)).use { reader ->
            while (true) {
                val chunk: Chunk = if (live == LiveMode.OFF) {
                    reader.next() ?: break
                } else {
                    val remainingMs = (deadline - System.nanoTime()) / 1_000_000
                    val step = if (remainingMs <= 0) null else withTimeoutOrNull(remainingMs) { Step(reader.next()) }
                    if (step == null) {
                        upToDate = true // the command's own time limit: not an error
                        break
                    }
                    step.chunk ?: break
                }
                lastStatus = chunk.status.toInt()
                lastOffset = chunk.nextOffset
                chunk.cursor?.let { cursor = it }
                upToDate = chunk.upToDate
                closed = chunk.closed
                if (!chunk.empty) chunks.add(chunkJson(chunk))
                if (live != LiveMode.OFF && (chunks.size >= maxChunks || (waitUpToDate && chunk.upToDate) || chunk.closed)) break
            }
        }
        val status = if (chunks.isEmpty() && lastStatus == 204) 204 else 200
        val extra = mutableMapOf<String, JsonElement>(
            "status" to JsonPrimitive(status),
            "chunks" to JsonArray(chunks),
            "upToDate" to JsonPrimitive(upToDate),
            "streamClosed" to JsonPrimitive(closed),
        )
        val offset = lastOffset ?: start?.takeIf { it != "-1" && it != "now" }
        offset?.let { extra["offset"] = JsonPrimitive(it) }
        cursor?.let { extra["cursor"] = JsonPrimitive(it) }
        dynamic.report(extra)
        return ok("read", extra)
    }

    private class Step(val chunk: Chunk?)

    suspend fun head(cmd: JsonObject): JsonObject {
        val info = streamWithHeaders(cmd).head()
        val extra = mutableMapOf<String, JsonElement>(
            "status" to JsonPrimitive(200),
            "offset" to JsonPrimitive(info.nextOffset),
            "streamClosed" to JsonPrimitive(info.closed),
        )
        info.contentType?.let { extra["contentType"] = JsonPrimitive(it) }
        info.ttlSeconds?.let { extra["ttlSeconds"] = JsonPrimitive(it.toLong()) }
        info.expiresAt?.let { extra["expiresAt"] = JsonPrimitive(it) }
        return ok("head", extra)
    }

    suspend fun delete(cmd: JsonObject): JsonObject {
        val s = streamWithHeaders(cmd)
        val path = cmd.str("path") ?: "/"
        try {
            s.delete()
        } finally {
            handles.remove(path)?.close()
            producers.keys.filter { it.first == path }.forEach { producers.remove(it)?.close() }
        }
        return ok("delete", mapOf("status" to JsonPrimitive(200)))
    }

    suspend fun close(cmd: JsonObject): JsonObject {
        val s = streamWithHeaders(cmd)
        cmd.str("contentType")?.let { s.setContentType(it) }
        val data = cmd.str("data")?.takeIf { it.isNotEmpty() }
        val r = s.closeStream(data?.encodeToByteArray())
        return ok("close", mapOf("finalOffset" to JsonPrimitive(r.finalOffset)))
    }

    private fun options(cmd: JsonObject) = ProducerOptions(
        epoch = cmd.int("epoch")?.takeIf { it >= 0 } ?: 0,
        autoClaim = cmd.bool("autoClaim"),
    )

    /** The cached producer for (path, id, epoch), created on first use. */
    private fun cachedProducer(cmd: JsonObject): Producer {
        val opts = options(cmd)
        val key = Triple(cmd.str("path") ?: "/", cmd.str("producerId") ?: "", opts.epoch ?: 0)
        producers[key]?.let { return it }
        val p = streamWithHeaders(cmd).producer(key.second, opts)
        producers[key] = p
        return p
    }

    suspend fun idempotentAppend(cmd: JsonObject): JsonObject {
        val p = cachedProducer(cmd)
        p.append((cmd.str("data") ?: "").encodeToByteArray())
        p.flush()
        val extra = mutableMapOf<String, JsonElement>(
            "status" to JsonPrimitive(200),
            "producerSeq" to JsonPrimitive(maxOf(p.nextSeq().toLong() - 1, 0)),
        )
        p.lastOffset()?.let { extra["offset"] = JsonPrimitive(it) }
        return ok("idempotent-append", extra)
    }

    suspend fun idempotentAppendBatch(cmd: JsonObject): JsonObject {
        val inFlight = (cmd.int("maxInFlight") ?: 1).coerceAtLeast(1)
        var opts = options(cmd).copy(maxInFlight = inFlight)
        if (inFlight > 1) {
            // Tiny batches so that several requests really are in flight at once.
            opts = opts.copy(maxBatchBytes = 1, lingerMs = 0.0)
        }
        val items = (cmd["items"] as? JsonArray)?.mapNotNull { it.jsonPrimitive.contentOrNull } ?: emptyList()
        streamWithHeaders(cmd).producer(cmd.str("producerId") ?: "", opts).use { p ->
            for (item in items) p.appendWait(item.encodeToByteArray())
            p.flush()
            p.detach()
            return ok(
                "idempotent-append-batch",
                mapOf("status" to JsonPrimitive(200), "producerSeq" to JsonPrimitive(maxOf(p.nextSeq().toLong() - 1, 0))),
            )
        }
    }

    suspend fun idempotentClose(cmd: JsonObject): JsonObject {
        val p = cachedProducer(cmd)
        val data = cmd.str("data")?.takeIf { it.isNotEmpty() }
        val r = p.closeStream(data?.encodeToByteArray())
        return ok("idempotent-close", mapOf("status" to JsonPrimitive(200), "finalOffset" to JsonPrimitive(r.finalOffset)))
    }

    suspend fun idempotentDetach(cmd: JsonObject): JsonObject {
        val key = Triple(cmd.str("path") ?: "/", cmd.str("producerId") ?: "", options(cmd).epoch ?: 0)
        producers.remove(key)?.use { it.detach() }
        return ok("idempotent-detach", mapOf("status" to JsonPrimitive(200)))
    }

    fun dynamicCmd(type: String, cmd: JsonObject): JsonObject {
        val c = client!!
        val name = cmd.str("name") ?: ""
        val kind = cmd.str("valueType") ?: ""
        try {
            when (type) {
                "set-dynamic-header" -> c.setDynamicHeader(name, dynamic.make(kind, cmd.str("initialValue"), name, dynamic.headers))
                "set-dynamic-param" -> c.setDynamicParam(name, dynamic.make(kind, null, name, dynamic.params))
                else -> { c.clearDynamic(); dynamic.clear() }
            }
        } catch (e: IllegalArgumentException) {
            return plain(type, "INVALID_ARGUMENT", e.message ?: "invalid")
        }
        return ok(type)
    }

    fun validate(cmd: JsonObject): JsonObject {
        val target = cmd["target"] as? JsonObject ?: JsonObject(emptyMap())
        when (val t = target.str("target")) {
            "retry-options" -> validateRetryOptions(
                RetryConfig(
                    maxRetries = target.int("maxRetries"),
                    initialDelayMs = target.num("initialDelayMs"),
                    maxDelayMs = target.num("maxDelayMs"),
                    multiplier = target.num("multiplier"),
                ),
            )
            "idempotent-producer" -> validateProducerOptions(
                ProducerOptions(
                    epoch = target.int("epoch"),
                    maxBatchBytes = target.int("maxBatchBytes"),
                    maxBatchItems = target.int("maxBatchItems"),
                    maxInFlight = target.int("maxInFlight"),
                    lingerMs = target.num("lingerMs"),
                ),
                target.str("producerId"),
            )
            else -> return plain("validate", "NOT_SUPPORTED", "unknown validation target \"$t\"")
        }
        return ok("validate")
    }
}

/** An error of the adapter itself (not of the client). */
private class AdapterError(val code: String, override val message: String) : Exception(message)

fun main() {
    val adapter = Adapter()
    val out = System.out
    while (true) {
        val line = readLine() ?: break
        if (line.isBlank()) continue
        var type = "unknown"
        val answer: JsonObject = try {
            val cmd = Json.parseToJsonElement(line) as JsonObject
            type = cmd.str("type") ?: ""
            runBlocking { adapter.handle(type, cmd) }
        } catch (e: AdapterError) {
            plain(type, e.code, e.message)
        } catch (e: Exception) {
            System.err.println("adapter: $type failed: $e")
            plain(type, if (type == "unknown") "PARSE_ERROR" else "INTERNAL_ERROR", e.toString())
        }
        out.println(answer.toString())
        out.flush()
        if (type == "shutdown") break
    }
}

// The idiomatic Kotlin layer over the generated bindings (same package, `dev.durastream`):
// Flows of chunks and of JSON items, kotlinx.serialization for JSON messages, a scoped
// producer, and the error facts on every `DurastreamException`.
//
// Everything that talks to the network is a `suspend fun` already in the generated code;
// every object is `AutoCloseable`, so `use {}` releases it. Methods that close a *stream*
// are called `closeStream`, because `close()` releases the handle.
package dev.durastream

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.serialization.DeserializationStrategy
import kotlinx.serialization.SerializationStrategy
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.serializer

/** The chunks of this reader as a cold [Flow]; it completes when the reader ends. Collect it
 *  once. Cancelling the collector stops the read that is waiting. */
fun Reader.chunks(): Flow<Chunk> = flow {
    while (true) {
        emit(next() ?: break)
    }
}

/** The chunk's data decoded as UTF-8 (use a text stream, or [Reader.chunks] on JSON streams). */
val Chunk.text: String get() = data.decodeToString()

/** The batches of this JSON reader as a cold [Flow] (each with its position). */
fun JsonReader.batches(): Flow<JsonBatch> = flow {
    while (true) {
        emit(next() ?: break)
    }
}

/** Every JSON message of the stream, one by one, as a [JsonElement]. */
fun JsonReader.items(json: Json = Json): Flow<JsonElement> = items(JsonElement.serializer(), json)

/** Every JSON message of the stream, decoded with [deserializer]. */
fun <T> JsonReader.items(deserializer: DeserializationStrategy<T>, json: Json = Json): Flow<T> =
    flow {
        while (true) {
            val batch = next() ?: break
            for (item in batch.items) emit(json.decodeFromString(deserializer, item))
        }
    }

/** Every JSON message of the stream, decoded as `T` (a `@Serializable` type). */
inline fun <reified T> JsonReader.decodeItems(json: Json = Json): Flow<T> = items(serializer<T>(), json)

/** Appends one JSON message, encoded from [value]. */
suspend inline fun <reified T> DurableStream.appendValue(value: T, json: Json = Json): AppendResult =
    appendJson(json.encodeToString(serializer<T>(), value))

/** Appends several JSON messages in one request. */
suspend inline fun <reified T> DurableStream.appendValues(values: List<T>, json: Json = Json): AppendResult =
    appendJsonBatch(values.map { json.encodeToString(serializer<T>(), it) })

/** Queues one JSON message, encoded from [value] (never waits on the network). */
fun <T> Producer.appendValue(serializer: SerializationStrategy<T>, value: T, json: Json = Json) =
    appendJson(json.encodeToString(serializer, value))

/** Queues one JSON message, encoded from [value] (never waits on the network). */
inline fun <reified T> Producer.appendValue(value: T, json: Json = Json) =
    appendValue(serializer<T>(), value, json)

/**
 * Runs [block] with a new producer, then waits until everything it appended is acknowledged
 * and stops the producer (`detach()`: the stream stays open), and releases it.
 * Returns [block]'s result; a failure of the producer is thrown here.
 */
suspend fun <R> DurableStream.withProducer(
    producerId: String,
    options: ProducerOptions = ProducerOptions(),
    onError: ProducerErrorListener? = null,
    block: suspend (Producer) -> R,
): R = producer(producerId, options, onError).use { p ->
    val result = block(p)
    p.detach()
    result
}

/** A [HeaderProvider] from a lambda, for [Client.setDynamicHeader] / [Client.setDynamicParam]. */
fun headerProvider(value: () -> String): HeaderProvider = object : HeaderProvider {
    override fun value(): String = value()
}

/** A [ProducerErrorListener] from a lambda. */
fun producerErrorListener(onError: (DurastreamException) -> Unit): ProducerErrorListener =
    object : ProducerErrorListener {
        override fun onError(error: DurastreamException) = onError(error)
    }

/** The facts of this error, whatever its variant. */
val DurastreamException.info: ErrorInfo
    get() = when (this) {
        is DurastreamException.NotFound -> info
        is DurastreamException.Gone -> info
        is DurastreamException.Conflict -> info
        is DurastreamException.StreamClosed -> info
        is DurastreamException.SequenceConflict -> info
        is DurastreamException.SequenceGap -> info
        is DurastreamException.StaleEpoch -> info
        is DurastreamException.BadRequest -> info
        is DurastreamException.InvalidOffset -> info
        is DurastreamException.Unauthorized -> info
        is DurastreamException.UnexpectedStatus -> info
        is DurastreamException.RetryExhausted -> info
        is DurastreamException.Parse -> info
        is DurastreamException.Network -> info
        is DurastreamException.Timeout -> info
        is DurastreamException.InvalidArgument -> info
        is DurastreamException.BufferFull -> info
        is DurastreamException.ProducerClosed -> info
        is DurastreamException.State -> info
    }

/** The stable code (`NOT_FOUND`, `STREAM_CLOSED`, ...), the same in every binding. */
val DurastreamException.code: String get() = info.code

/** The HTTP status that caused the error, when there was a response. */
val DurastreamException.status: Int? get() = info.status?.toInt()

/** A readable description: the error's message (the generated `message` lists the fields). */
val DurastreamException.description: String get() = info.message

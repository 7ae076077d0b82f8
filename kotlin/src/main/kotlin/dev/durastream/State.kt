// The State Protocol in Kotlin: a `StateFlow` of the materialized state and a `Flow` of
// changes over the core's follower, entities decoded with kotlinx.serialization, and event
// builders checked by the core. Every rule (validation, materialization, snapshots, resets,
// consistent points) runs in the Rust core; this file only converts and schedules.
package dev.durastream

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.launch
import kotlinx.serialization.DeserializationStrategy
import kotlinx.serialization.SerializationStrategy
import kotlinx.serialization.builtins.serializer
import kotlinx.serialization.json.Json
import kotlinx.serialization.serializer

/** The value at [entityType]/[key] decoded with [deserializer], or null when absent. */
fun <T> MaterializedState.getValue(
    entityType: String,
    key: String,
    deserializer: DeserializationStrategy<T>,
    json: Json = Json,
): T? = get(entityType, key)?.let { json.decodeFromString(deserializer, it) }

/** The value at [entityType]/[key] as `T` (a `@Serializable` type), or null when absent. */
inline fun <reified T> MaterializedState.getValue(entityType: String, key: String, json: Json = Json): T? =
    getValue(entityType, key, serializer<T>(), json)

/** Every entity of [entityType] as `T`, by key (sorted). */
inline fun <reified T> MaterializedState.getAll(entityType: String, json: Json = Json): Map<String, T> =
    entities(entityType).associate { it.key to json.decodeFromString(serializer<T>(), it.value) }

/** The change's new value as `T` (null for deletes and control events). */
inline fun <reified T> StateChange.valueAs(json: Json = Json): T? =
    value?.let { json.decodeFromString(serializer<T>(), it) }

/** The value the change replaced or removed, as `T`. */
inline fun <reified T> StateChange.previousAs(json: Json = Json): T? =
    previous?.let { json.decodeFromString(serializer<T>(), it) }

/** Event builders: each returns the event's JSON text, built and checked by the core. */
object StateEvents {
    /** A change event of [operation] (`insert`, `update`, `upsert`, `delete`). */
    fun <T> change(
        operation: String,
        entityType: String,
        key: String,
        value: T?,
        serializer: SerializationStrategy<T>,
        oldValue: T? = null,
        headers: Map<String, String> = emptyMap(),
        json: Json = Json,
    ): String = buildChangeEvent(
        operation, entityType, key,
        value?.let { json.encodeToString(serializer, it) },
        oldValue?.let { json.encodeToString(serializer, it) },
        headers,
    )

    /** An insert of [value]. */
    inline fun <reified T> insert(entityType: String, key: String, value: T, headers: Map<String, String> = emptyMap()) =
        change("insert", entityType, key, value, serializer<T>(), null, headers)

    /** An update to [value], with [oldValue] when given. */
    inline fun <reified T> update(
        entityType: String, key: String, value: T, oldValue: T? = null, headers: Map<String, String> = emptyMap(),
    ) = change("update", entityType, key, value, serializer<T>(), oldValue, headers)

    /** An upsert (insert or replace) of [value]. */
    inline fun <reified T> upsert(entityType: String, key: String, value: T, headers: Map<String, String> = emptyMap()) =
        change("upsert", entityType, key, value, serializer<T>(), null, headers)

    /** A delete. */
    fun delete(entityType: String, key: String, headers: Map<String, String> = emptyMap()): String =
        buildChangeEvent("delete", entityType, key, null, null, headers)

    /** A control event: `reset`, `snapshot-start` or `snapshot-end`. */
    fun control(control: String, offset: String? = null): String {
        val text = if (offset == null) """{"headers":{"control":"$control"}}"""
        else """{"headers":{"control":"$control","offset":${Json.encodeToString(String.serializer(), offset)}}}"""
        validateStateEvent(text)
        return text
    }
}

/**
 * Writes events through an idempotent [Producer], so each lands exactly once even when a
 * batch is retried. Events are checked by the core before they are queued; `flush()` on
 * the producer waits for the acknowledgement.
 */
class StateWriter(val producer: Producer) {
    /** Checks and queues one event (JSON text, e.g. from [StateEvents]). */
    fun write(event: String) {
        validateStateEvent(event)
        producer.appendJson(event)
    }

    /** Queues an insert. */
    inline fun <reified T> insert(entityType: String, key: String, value: T) =
        write(StateEvents.insert(entityType, key, value))

    /** Queues an update. */
    inline fun <reified T> update(entityType: String, key: String, value: T, oldValue: T? = null) =
        write(StateEvents.update(entityType, key, value, oldValue))

    /** Queues an upsert. */
    inline fun <reified T> upsert(entityType: String, key: String, value: T) =
        write(StateEvents.upsert(entityType, key, value))

    /** Queues a delete. */
    fun delete(entityType: String, key: String) = write(StateEvents.delete(entityType, key))
}

/** Each applied batch as a cold [Flow]; it completes when the follower ends. Collect once. */
fun StateFollower.updates(): Flow<StateUpdate> = flow {
    while (true) {
        emit(next() ?: break)
    }
}

/** Each change as a cold [Flow] (one consumer; see [LiveState] for many). */
fun StateFollower.changes(): Flow<StateChange> = flow {
    while (true) {
        val u = next() ?: break
        for (c in u.changes) emit(c)
    }
}

/**
 * A follower running in [scope]: [state] is a [StateFlow] of the materialized state at
 * each up-to-date batch, [consistent] says whether it is also outside a snapshot, and
 * [changes] is a hot [SharedFlow] of every change (collectors see the changes applied
 * after they subscribe; a slow collector slows the follower down, nothing is dropped).
 * A failure ends the job; it is in [error]. [close] stops following.
 */
class LiveState(val follower: StateFollower, scope: CoroutineScope) : AutoCloseable {
    private val stateFlow = MutableStateFlow(follower.state())
    private val consistentFlow = MutableStateFlow(follower.isConsistent())
    private val changeFlow = MutableSharedFlow<StateChange>(extraBufferCapacity = 1024)

    /** The state after the last up-to-date batch. */
    val state: StateFlow<MaterializedState> = stateFlow.asStateFlow()

    /** True when [state] is consistent: up to date and outside a snapshot. */
    val consistent: StateFlow<Boolean> = consistentFlow.asStateFlow()

    /** Every change applied, in stream order. */
    val changes: SharedFlow<StateChange> = changeFlow.asSharedFlow()

    /** The failure that stopped following, if any. */
    @Volatile
    var error: Throwable? = null
        private set

    /** The coroutine that follows the stream. */
    val job: Job = scope.launch {
        try {
            while (true) {
                val u = follower.next() ?: break
                for (c in u.changes) changeFlow.emit(c)
                if (u.upToDate || u.closed) {
                    stateFlow.value = follower.state()
                    consistentFlow.value = u.consistent
                }
            }
        } catch (e: DurastreamException) {
            error = e
        }
    }

    /** Stops following (the follower's pending read ends at once). */
    override fun close() {
        follower.cancel()
        job.cancel()
    }
}

/** Starts following this stream in [scope]; see [LiveState]. */
fun DurableStream.liveState(
    scope: CoroutineScope,
    options: StateFollowerOptions = StateFollowerOptions(),
): LiveState = LiveState(StateFollower(this, options), scope)

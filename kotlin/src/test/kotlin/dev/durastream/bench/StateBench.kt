// State Protocol benchmark for Kotlin: materializing 1,000,000 change events (100-byte
// values over 10,000 keys, every 100th a delete) fed as JSON chunks of 1,000 events, the
// same events byte for byte as tests/state/npm/events.mjs (node/bench/state.mjs) makes.
// The time counted is applying each chunk; prints events/s and the peak RSS.
//
//   cargo build --release -p durastream-ffi
//   (cd kotlin && mvn -q -B test-compile)
//   flock /work/bench.lock java -Djna.library.path=target/release \
//     -cp "kotlin/target/classes:kotlin/target/test-classes:$(cat kotlin/target/classpath.txt)" \
//     dev.durastream.bench.StateBenchKt [EVENTS]
package dev.durastream.bench

import dev.durastream.MaterializedState
import java.io.File

private const val KEYS = 10_000
private const val CHUNK = 1_000

/** Events start until start+n as a JSON array (every 100th after the first KEYS a delete). */
fun chunk(start: Int, n: Int): String {
    val out = StringBuilder(n * 150)
    out.append('[')
    for (i in start until start + n) {
        if (i > start) out.append(',')
        val key = i % KEYS
        if (i >= KEYS && i % 100 == 0) {
            out.append("""{"type":"row","key":"k$key","headers":{"operation":"delete"}}""")
            continue
        }
        val op = if (i < KEYS) "insert" else "update"
        val head = """{"n":$i,"s":""""
        val pad = "x".repeat(100 - head.length - 2)
        out.append("""{"type":"row","key":"k$key","value":$head$pad"},"headers":{"operation":"$op"}}""")
    }
    out.append(']')
    return out.toString()
}

private fun peakRssMiB(): Long =
    File("/proc/self/status").readLines().firstOrNull { it.startsWith("VmHWM:") }
        ?.split(Regex("\\s+"))?.getOrNull(1)?.toLongOrNull()?.div(1024) ?: 0L

fun main(args: Array<String>) {
    val events = args.firstOrNull()?.toInt() ?: 1_000_000
    MaterializedState().use { s ->
        var busy = 0L
        var start = 0
        while (start < events) {
            val n = minOf(CHUNK, events - start)
            val data = chunk(start, n)
            val t = System.nanoTime()
            val out = s.applyJsonQuiet(data, false)
            busy += System.nanoTime() - t
            check(out.applied == n.toULong()) { "applied ${out.applied} of $n" }
            start += n
        }
        val secs = busy / 1e9
        println(
            "kotlin applyJsonQuiet: $events events in ${"%.3f".format(secs)} s: " +
                "${(events / secs).toLong()} events/s, ${s.size("row")} keys, peak RSS ${peakRssMiB()} MiB",
        )
    }
}

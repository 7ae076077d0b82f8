// Runs a producer and a reader against the server bundled in the durastream jar, and fails
// (exit status 1) unless the reader gets back exactly what the producer wrote.
import dev.durastream.*
import kotlin.system.exitProcess
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.runBlocking

fun main() = runBlocking {
    val got = StringBuilder()
    TestServer.start().use { server ->
        val stream = Client().stream(server.streamUrl("consumer-check"))
        stream.create(CreateOptions(contentType = "text/plain"))
        stream.producer("consumer-1").use { p ->
            for (i in 1..50) p.appendText("line $i\n")
            p.flush()
        }
        stream.read().use { reader -> reader.chunks().collect { got.append(it.text) } }
        server.shutdown()
    }
    val want = (1..50).joinToString("") { "line $it\n" }
    if (got.toString() != want) {
        System.err.println("consumer: read back ${got.length} chars, expected ${want.length}")
        exitProcess(1)
    }
    println("consumer: producer and reader OK (${want.length} bytes) with the jar's native library")
}

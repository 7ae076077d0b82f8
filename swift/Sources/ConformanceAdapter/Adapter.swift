// Client-conformance adapter for the Swift package (shared/conformance/client/
// ADAPTER_PROTOCOL.md): one JSON command per stdin line, exactly one JSON result per stdout
// line, in order. Every command becomes calls on the public Swift API; no protocol logic
// lives here, only argument conversion, the per-path handle and producer caches the
// protocol asks for, and the mapping of errors to the protocol's codes. It mirrors the Rust
// and Kotlin adapters. Started by swift/conformance-adapter. Logs go to stderr.

import Durastream
import Foundation

typealias Obj = [String: Any]

func str(_ o: Obj, _ k: String) -> String? { o[k] as? String }
func num(_ o: Obj, _ k: String) -> Double? { (o[k] as? NSNumber)?.doubleValue }
func int(_ o: Obj, _ k: String) -> Int64? { num(o, k).map { Int64($0) } }
func bool(_ o: Obj, _ k: String) -> Bool { (o[k] as? Bool) ?? false }

func ok(_ type: String, _ extra: Obj = [:]) -> Obj {
    var v: Obj = ["type": type, "success": true]
    v.merge(extra) { _, new in new }
    return v
}

func plain(_ type: String, _ code: String, _ message: String) -> Obj {
    ["type": "error", "success": false, "commandType": type, "errorCode": code, "message": message]
}

/// The protocol's errorCode for a client error (as the Rust adapter maps them).
func code(_ e: DurastreamError) -> String {
    switch e {
    case .NotFound: return "NOT_FOUND"
    case .InvalidOffset: return "INVALID_OFFSET"
    case .SequenceConflict: return "SEQUENCE_CONFLICT"
    case .StreamClosed: return "STREAM_CLOSED"
    case .Parse: return "PARSE_ERROR"
    case .InvalidArgument: return "INVALID_ARGUMENT"
    case .Conflict: return "CONFLICT"
    case .Network: return "NETWORK_ERROR"
    case .Timeout: return "TIMEOUT"
    case .StaleEpoch: return "STALE_EPOCH"
    case .SequenceGap: return "SEQUENCE_GAP"
    case .ProducerClosed: return "CLOSED"
    default: return "UNEXPECTED_STATUS"
    }
}

func errorResult(_ type: String, _ e: DurastreamError) -> Obj {
    var v = plain(type, code(e), e.message)
    if let s = e.status { v["status"] = s }
    return v
}

/// Whitespace outside strings removed; every string and number kept as spelled.
func minify(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    var inString = false, escaped = false
    for c in text.unicodeScalars {
        if inString {
            out.append(c)
            if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
        } else if c == "\"" {
            inString = true
            out.append(c)
        } else if !(c == " " || c == "\n" || c == "\r" || c == "\t") {
            out.append(c)
        }
    }
    return String(out)
}

/// `{data, binary?, offset}`: JSON compacted, other text as is, other bytes base64.
func chunkJson(_ c: Chunk) -> Obj {
    var v: Obj = ["offset": c.nextOffset]
    if let text = String(data: c.data, encoding: .utf8) {
        v["data"] = c.json ? minify(text) : text
    } else {
        v["data"] = c.data.base64EncodedString()
        v["binary"] = true
    }
    return v
}

struct AdapterError: Error {
    let code: String
    let message: String
}

/// Dynamic header and parameter definitions, and the last value each produced.
final class Dynamic: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var headers: [String: String] = [:]
    private(set) var params: [String: String] = [:]

    func provider(kind: String, initial: String?, name: String, isHeader: Bool) throws -> ClosureHeaderProvider {
        record(name, nil, isHeader)
        let produce: @Sendable () -> String
        switch kind {
        case "counter":
            let counter = CounterBox()
            produce = { String(counter.next()) }
        case "timestamp":
            produce = { String(Int64(Date().timeIntervalSince1970 * 1000)) }
        case "token":
            let v = initial ?? ""
            produce = { v }
        default:
            throw AdapterError(code: "INVALID_ARGUMENT", message: "unknown valueType \"\(kind)\"")
        }
        return ClosureHeaderProvider { [self] in
            let v = produce()
            self.record(name, v, isHeader)
            return v
        }
    }

    private func record(_ name: String, _ value: String?, _ isHeader: Bool) {
        lock.lock(); defer { lock.unlock() }
        if isHeader { headers[name] = value } else { params[name] = value }
    }

    func report(_ into: inout Obj) {
        lock.lock(); defer { lock.unlock() }
        if !headers.isEmpty { into["headersSent"] = headers }
        if !params.isEmpty { into["paramsSent"] = params }
    }

    func clear() {
        lock.lock(); defer { lock.unlock() }
        headers = [:]
        params = [:]
    }
}

final class CounterBox: @unchecked Sendable {
    private let lock = NSLock()
    private var n: Int64 = 0
    func next() -> Int64 { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}

enum Step {
    case chunk(Chunk?)
    case timedOut
}

final class Adapter {
    var client: Client?
    var serverUrl = ""
    var handles: [String: DurableStream] = [:]
    var producers: [String: Producer] = [:]
    var dynamic = Dynamic()

    func handle(_ type: String, _ cmd: Obj) async -> Obj {
        if type == "init" { return initialize(cmd) }
        if type == "shutdown" { return ok("shutdown") }
        if client == nil && type != "validate" { return plain(type, "INTERNAL_ERROR", "init has not been received") }
        do {
            switch type {
            case "create": return try await create(cmd)
            case "connect": return try await connect(cmd)
            case "append": return try await append(cmd)
            case "read": return try await read(cmd)
            case "head": return try await head(cmd)
            case "delete": return try await delete(cmd)
            case "close": return try await close(cmd)
            case "idempotent-append": return try await idempotentAppend(cmd)
            case "idempotent-append-batch": return try await idempotentAppendBatch(cmd)
            case "idempotent-close": return try await idempotentClose(cmd)
            case "idempotent-detach": return try await idempotentDetach(cmd)
            case "set-dynamic-header", "set-dynamic-param", "clear-dynamic": return try dynamicCmd(type, cmd)
            case "validate": return try validate(cmd)
            default: return plain(type, "NOT_SUPPORTED", "unknown command \"\(type)\"")
            }
        } catch let e as DurastreamError {
            return errorResult(type, e)
        } catch let e as AdapterError {
            return plain(type, e.code, e.message)
        } catch {
            return plain(type, "INTERNAL_ERROR", "\(error)")
        }
    }

    func initialize(_ cmd: Obj) -> Obj {
        client?.clearDynamic()
        handles = [:]
        producers = [:]
        dynamic = Dynamic()
        serverUrl = (str(cmd, "serverUrl") ?? "")
        while serverUrl.hasSuffix("/") { serverUrl.removeLast() }
        client = Client()
        let names = ["sse", "longPoll", "auto", "streaming", "batching", "dynamicHeaders",
                     "retryOptions", "strictZeroValidation", "batchItems"]
        return ok("init", [
            "clientName": "durastream-swift",
            "clientVersion": libraryVersion(),
            "features": Dictionary(uniqueKeysWithValues: names.map { ($0, true) }),
        ])
    }

    /// The cached handle for a path (created on first use).
    func stream(_ cmd: Obj) throws -> DurableStream {
        let path = str(cmd, "path") ?? "/"
        if let s = handles[path] { return s }
        let s = try client!.stream(url: serverUrl + path)
        handles[path] = s
        return s
    }

    /// The handle with the command's extra headers.
    func streamWithHeaders(_ cmd: Obj) throws -> DurableStream {
        var s = try stream(cmd)
        for (k, v) in (cmd["headers"] as? Obj) ?? [:] {
            s = try s.withHeader(name: k, value: (v as? String) ?? "\(v)")
        }
        return s
    }

    func payload(_ cmd: Obj) throws -> Data {
        let data = str(cmd, "data") ?? ""
        if !bool(cmd, "binary") { return Data(data.utf8) }
        guard let bytes = Data(base64Encoded: data) else {
            throw AdapterError(code: "INVALID_ARGUMENT", message: "binary data is not base64")
        }
        return bytes
    }

    func create(_ cmd: Obj) async throws -> Obj {
        let s = try streamWithHeaders(cmd)
        let r = try await s.create(options: CreateOptions(
            contentType: str(cmd, "contentType") ?? "application/octet-stream",
            ttlSeconds: int(cmd, "ttlSeconds").flatMap { $0 >= 0 ? UInt64($0) : nil },
            expiresAt: str(cmd, "expiresAt"),
            closed: bool(cmd, "closed"),
            body: str(cmd, "data").map { Data($0.utf8) }
        ))
        var extra: Obj = ["status": Int(r.status)]
        if let o = r.nextOffset { extra["offset"] = o }
        return ok("create", extra)
    }

    func connect(_ cmd: Obj) async throws -> Obj {
        let info = try await streamWithHeaders(cmd).head()
        return ok("connect", ["status": 200, "offset": info.nextOffset])
    }

    func append(_ cmd: Obj) async throws -> Obj {
        let s = try streamWithHeaders(cmd)
        let r = try await s.appendWith(data: try payload(cmd), options: AppendOptions(seq: int(cmd, "seq").map { String($0) }))
        var extra: Obj = ["status": 200, "offset": r.nextOffset]
        dynamic.report(&extra)
        return ok("append", extra)
    }

    func read(_ cmd: Obj) async throws -> Obj {
        let s = try streamWithHeaders(cmd)
        let live: LiveMode
        switch cmd["live"] {
        case let v as String where v == "long-poll": live = .longPoll
        case let v as String where v == "sse": live = .sse
        case let v as Bool where v: live = .auto
        default: live = .off
        }
        let start = str(cmd, "offset")
        let timeoutMs = max(int(cmd, "timeoutMs") ?? 5000, 0)
        let maxChunks = max(int(cmd, "maxChunks") ?? 100, 1)
        let waitUpToDate = bool(cmd, "waitForUpToDate")
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMs) * 1_000_000
        let reader = s.read(options: ReadOptions(offset: start, live: live))
        defer { reader.cancel() }

        var chunks: [Obj] = []
        var lastOffset: String?
        var cursor: String?
        var upToDate = false
        var closed = false
        var lastStatus = 200
        while true {
            let chunk: Chunk
            if live == .off {
                guard let c = try await reader.next() else { break }
                chunk = c
            } else {
                let now = DispatchTime.now().uptimeNanoseconds
                var step = Step.timedOut
                if now < deadline {
                    step = try await withThrowingTaskGroup(of: Step.self) { group in
                        group.addTask { .chunk(try await reader.next()) }
                        group.addTask {
                            try? await Task.sleep(nanoseconds: deadline - now)
                            return .timedOut
                        }
                        let first = try await group.next() ?? .timedOut
                        if case .timedOut = first { reader.cancel() }
                        group.cancelAll()
                        return first
                    }
                }
                guard case .chunk(let next) = step else {
                    upToDate = true // the command's own time limit: not an error
                    break
                }
                guard let c = next else { break }
                chunk = c
            }
            lastStatus = Int(chunk.status)
            lastOffset = chunk.nextOffset
            if let c = chunk.cursor { cursor = c }
            upToDate = chunk.upToDate
            closed = chunk.closed
            if !chunk.empty { chunks.append(chunkJson(chunk)) }
            if live != .off && (chunks.count >= maxChunks || (waitUpToDate && chunk.upToDate) || chunk.closed) { break }
        }
        var extra: Obj = [
            "status": chunks.isEmpty && lastStatus == 204 ? 204 : 200,
            "chunks": chunks,
            "upToDate": upToDate,
            "streamClosed": closed,
        ]
        if let o = lastOffset ?? start.flatMap({ $0 == "-1" || $0 == "now" ? nil : $0 }) { extra["offset"] = o }
        if let c = cursor { extra["cursor"] = c }
        dynamic.report(&extra)
        return ok("read", extra)
    }

    func head(_ cmd: Obj) async throws -> Obj {
        let info = try await streamWithHeaders(cmd).head()
        var extra: Obj = ["status": 200, "offset": info.nextOffset, "streamClosed": info.closed]
        if let ct = info.contentType { extra["contentType"] = ct }
        if let ttl = info.ttlSeconds { extra["ttlSeconds"] = ttl }
        if let at = info.expiresAt { extra["expiresAt"] = at }
        return ok("head", extra)
    }

    func delete(_ cmd: Obj) async throws -> Obj {
        let s = try streamWithHeaders(cmd)
        let path = str(cmd, "path") ?? "/"
        defer {
            handles[path] = nil
            producers = producers.filter { !$0.key.hasPrefix(path + "\u{0}") }
        }
        try await s.delete()
        return ok("delete", ["status": 200])
    }

    func close(_ cmd: Obj) async throws -> Obj {
        let s = try streamWithHeaders(cmd)
        if let ct = str(cmd, "contentType") { s.setContentType(contentType: ct) }
        let data = str(cmd, "data").flatMap { $0.isEmpty ? nil : Data($0.utf8) }
        let r = try await s.closeStream(finalMessage: data)
        return ok("close", ["finalOffset": r.finalOffset])
    }

    func options(_ cmd: Obj) -> ProducerOptions {
        ProducerOptions(epoch: int(cmd, "epoch").flatMap { $0 >= 0 ? $0 : nil } ?? 0, autoClaim: bool(cmd, "autoClaim"))
    }

    func key(_ cmd: Obj) -> String {
        "\(str(cmd, "path") ?? "/")\u{0}\(str(cmd, "producerId") ?? "")\u{0}\(options(cmd).epoch ?? 0)"
    }

    /// The cached producer for (path, id, epoch), created on first use.
    func cachedProducer(_ cmd: Obj) throws -> Producer {
        let k = key(cmd)
        if let p = producers[k] { return p }
        let p = try streamWithHeaders(cmd).producer(producerId: str(cmd, "producerId") ?? "", options: options(cmd))
        producers[k] = p
        return p
    }

    func idempotentAppend(_ cmd: Obj) async throws -> Obj {
        let p = try cachedProducer(cmd)
        try p.append(data: Data((str(cmd, "data") ?? "").utf8))
        try await p.flush()
        var extra: Obj = ["status": 200, "producerSeq": max(Int64(p.nextSeq()) - 1, 0)]
        if let o = p.lastOffset() { extra["offset"] = o }
        return ok("idempotent-append", extra)
    }

    func idempotentAppendBatch(_ cmd: Obj) async throws -> Obj {
        let inFlight = max(int(cmd, "maxInFlight") ?? 1, 1)
        var opts = options(cmd)
        opts.maxInFlight = inFlight
        if inFlight > 1 {
            // Tiny batches so that several requests really are in flight at once.
            opts.maxBatchBytes = 1
            opts.lingerMs = 0
        }
        let items = ((cmd["items"] as? [Any]) ?? []).compactMap { $0 as? String }
        let p = try streamWithHeaders(cmd).producer(producerId: str(cmd, "producerId") ?? "", options: opts)
        for item in items { try await p.appendWait(data: Data(item.utf8)) }
        try await p.flush()
        try await p.detach()
        return ok("idempotent-append-batch", ["status": 200, "producerSeq": max(Int64(p.nextSeq()) - 1, 0)])
    }

    func idempotentClose(_ cmd: Obj) async throws -> Obj {
        let p = try cachedProducer(cmd)
        let data = str(cmd, "data").flatMap { $0.isEmpty ? nil : Data($0.utf8) }
        let r = try await p.closeStream(finalMessage: data)
        return ok("idempotent-close", ["status": 200, "finalOffset": r.finalOffset])
    }

    func idempotentDetach(_ cmd: Obj) async throws -> Obj {
        if let p = producers.removeValue(forKey: key(cmd)) { try await p.detach() }
        return ok("idempotent-detach", ["status": 200])
    }

    func dynamicCmd(_ type: String, _ cmd: Obj) throws -> Obj {
        let c = client!
        let name = str(cmd, "name") ?? ""
        let kind = str(cmd, "valueType") ?? ""
        switch type {
        case "set-dynamic-header":
            c.setDynamicHeader(name: name, provider: try dynamic.provider(kind: kind, initial: str(cmd, "initialValue"), name: name, isHeader: true))
        case "set-dynamic-param":
            c.setDynamicParam(name: name, provider: try dynamic.provider(kind: kind, initial: nil, name: name, isHeader: false))
        default:
            c.clearDynamic()
            dynamic.clear()
        }
        return ok(type)
    }

    func validate(_ cmd: Obj) throws -> Obj {
        let t = (cmd["target"] as? Obj) ?? [:]
        switch str(t, "target") {
        case "retry-options":
            try validateRetryOptions(retry: RetryConfig(
                maxRetries: int(t, "maxRetries"), initialDelayMs: num(t, "initialDelayMs"),
                maxDelayMs: num(t, "maxDelayMs"), multiplier: num(t, "multiplier")))
        case "idempotent-producer":
            try validateProducerOptions(
                options: ProducerOptions(
                    epoch: int(t, "epoch"), maxBatchBytes: int(t, "maxBatchBytes"),
                    maxBatchItems: int(t, "maxBatchItems"), maxInFlight: int(t, "maxInFlight"),
                    lingerMs: num(t, "lingerMs")),
                producerId: str(t, "producerId"))
        case let other:
            return plain("validate", "NOT_SUPPORTED", "unknown validation target \(other ?? "nil")")
        }
        return ok("validate")
    }
}

@main
struct Main {
    static func main() async {
        let adapter = Adapter()
        while let line = readLine(strippingNewline: true) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            var type = "unknown"
            let answer: Obj
            if let data = line.data(using: .utf8),
               let cmd = (try? JSONSerialization.jsonObject(with: data)) as? Obj {
                type = str(cmd, "type") ?? ""
                answer = await adapter.handle(type, cmd)
            } else {
                answer = plain("unknown", "PARSE_ERROR", "bad command line")
            }
            let out = (try? JSONSerialization.data(withJSONObject: answer)) ?? Data("{}".utf8)
            FileHandle.standardOutput.write(out + Data("\n".utf8))
            if type == "shutdown" { break }
        }
    }
}

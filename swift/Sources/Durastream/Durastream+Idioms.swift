// The idiomatic Swift layer over the generated API (Durastream.swift): AsyncSequences of
// chunks and of Decodable JSON messages, Encodable appends, a scoped producer, closures as
// header providers and error listeners, and the error facts on every DurastreamError.
//
// Everything that talks to the network is already `async throws` in the generated code.
// Methods that close a *stream* are called `closeStream`.

import Foundation

// MARK: - Chunks

/// The chunks of a `Reader`, as an `AsyncSequence`. It ends when the reader ends; cancelling
/// the iterating task cancels the reader.
public struct ChunkSequence: AsyncSequence {
    public typealias Element = Chunk
    let reader: Reader

    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: Reader
        public mutating func next() async throws -> Chunk? {
            let reader = self.reader
            return try await withTaskCancellationHandler {
                try await reader.next()
            } onCancel: {
                reader.cancel()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }
}

extension Reader {
    /// The chunks of this reader as an `AsyncSequence` (iterate it once).
    public var chunks: ChunkSequence { ChunkSequence(reader: self) }
}

extension Chunk {
    /// The data decoded as UTF-8.
    public var text: String { String(decoding: data, as: UTF8.self) }
}

// MARK: - JSON messages

/// The batches of a `JsonReader`, as an `AsyncSequence`.
public struct JsonBatchSequence: AsyncSequence {
    public typealias Element = JsonBatch
    let reader: JsonReader

    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: JsonReader
        public mutating func next() async throws -> JsonBatch? {
            let reader = self.reader
            return try await withTaskCancellationHandler {
                try await reader.next()
            } onCancel: {
                reader.cancel()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }
}

/// Every JSON message of a stream, one by one, decoded as `T`.
public struct JsonItemSequence<T: Decodable>: AsyncSequence {
    public typealias Element = T
    let reader: JsonReader
    let decoder: JSONDecoder

    public struct AsyncIterator: AsyncIteratorProtocol {
        var batches: JsonBatchSequence.AsyncIterator
        let decoder: JSONDecoder
        var pending: [String] = []

        public mutating func next() async throws -> T? {
            while pending.isEmpty {
                guard let batch = try await batches.next() else { return nil }
                pending = batch.items.reversed()
            }
            let item = pending.removeLast()
            return try decoder.decode(T.self, from: Data(item.utf8))
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(batches: JsonBatchSequence.AsyncIterator(reader: reader), decoder: decoder)
    }
}

extension JsonReader {
    /// The batches (each with its position) as an `AsyncSequence`.
    public var batches: JsonBatchSequence { JsonBatchSequence(reader: self) }

    /// Every message, decoded as `T` with `decoder`.
    public func items<T: Decodable>(
        _ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()
    ) -> JsonItemSequence<T> {
        JsonItemSequence(reader: self, decoder: decoder)
    }
}

extension DurableStream {
    /// Appends one JSON message, encoded from `value`.
    @discardableResult
    public func appendValue<T: Encodable>(_ value: T, encoder: JSONEncoder = JSONEncoder()) async throws -> AppendResult {
        try await appendJson(json: String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Appends several JSON messages in one request.
    @discardableResult
    public func appendValues<T: Encodable>(_ values: [T], encoder: JSONEncoder = JSONEncoder()) async throws -> AppendResult {
        let items = try values.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        return try await appendJsonBatch(items: items)
    }

    /// Runs `body` with a new producer, then waits until everything it appended is
    /// acknowledged and stops the producer (`detach()`: the stream stays open).
    public func withProducer<R>(
        _ producerId: String,
        options: ProducerOptions = ProducerOptions(),
        onError: ((DurastreamError) -> Void)? = nil,
        _ body: (Producer) async throws -> R
    ) async throws -> R {
        let listener = onError.map { ClosureErrorListener($0) }
        let p = try producer(producerId: producerId, options: options, onError: listener)
        let result = try await body(p)
        try await p.detach()
        return result
    }
}

extension Producer {
    /// Queues one JSON message encoded from `value` (never waits on the network).
    public func appendValue<T: Encodable>(_ value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        try appendJson(json: String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

// MARK: - Closures as foreign traits

/// A `HeaderProvider` computing its value with a closure (called on every request, from a
/// background thread).
public final class ClosureHeaderProvider: HeaderProvider, @unchecked Sendable {
    private let make: @Sendable () -> String
    public init(_ make: @escaping @Sendable () -> String) { self.make = make }
    public func value() -> String { make() }
}

/// A `ProducerErrorListener` calling a closure with each fatal producer error.
public final class ClosureErrorListener: ProducerErrorListener, @unchecked Sendable {
    private let handler: (DurastreamError) -> Void
    public init(_ handler: @escaping (DurastreamError) -> Void) { self.handler = handler }
    public func onError(error: DurastreamError) { handler(error) }
}

extension Client {
    /// Sends header `name` on every later request, computing its value each time.
    public func setDynamicHeader(_ name: String, _ value: @escaping @Sendable () -> String) {
        setDynamicHeader(name: name, provider: ClosureHeaderProvider(value))
    }
}

// MARK: - Errors

extension DurastreamError {
    /// The facts of this error, whatever its case.
    public var info: ErrorInfo {
        switch self {
        case .NotFound(let info), .Gone(let info), .Conflict(let info), .StreamClosed(let info),
             .SequenceConflict(let info), .SequenceGap(let info), .StaleEpoch(let info),
             .BadRequest(let info), .InvalidOffset(let info), .Unauthorized(let info),
             .UnexpectedStatus(let info), .RetryExhausted(let info), .Parse(let info),
             .Network(let info), .Timeout(let info), .InvalidArgument(let info),
             .BufferFull(let info), .ProducerClosed(let info), .State(let info, _, _, _):
            return info
        }
    }

    /// The stable code (`NOT_FOUND`, `STREAM_CLOSED`, ...), the same in every binding.
    public var code: String { info.code }

    /// The HTTP status that caused the error, when there was a response.
    public var status: Int? { info.status.map(Int.init) }

    /// The human-readable message.
    public var message: String { info.message }
}

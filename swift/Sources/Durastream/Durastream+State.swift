// The State Protocol in Swift: an `AsyncSequence` of changes (and of applied batches) over
// the core's follower, `Decodable` entities, and `Encodable` event builders checked by the
// core. Every rule (validation, materialization, snapshots, resets, consistent points) runs
// in the Rust core; this file only converts.

import Foundation

// MARK: - Followed batches and changes

/// The batches a `StateFollower` applies, as an `AsyncSequence`. It ends when the follower
/// ends; cancelling the iterating task cancels the follower.
public struct StateUpdateSequence: AsyncSequence {
    public typealias Element = StateUpdate
    let follower: StateFollower

    public struct AsyncIterator: AsyncIteratorProtocol {
        let follower: StateFollower
        public mutating func next() async throws -> StateUpdate? {
            let follower = self.follower
            return try await withTaskCancellationHandler {
                try await follower.next()
            } onCancel: {
                follower.cancel()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(follower: follower) }
}

/// Every change a `StateFollower` applies, one by one, as an `AsyncSequence`.
public struct StateChangeSequence: AsyncSequence {
    public typealias Element = StateChange
    let follower: StateFollower

    public struct AsyncIterator: AsyncIteratorProtocol {
        var updates: StateUpdateSequence.AsyncIterator
        var pending: [StateChange] = []

        public mutating func next() async throws -> StateChange? {
            while pending.isEmpty {
                guard let update = try await updates.next() else { return nil }
                pending = update.changes.reversed()
            }
            return pending.removeLast()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(updates: StateUpdateSequence.AsyncIterator(follower: follower))
    }
}

extension StateFollower {
    /// The applied batches as an `AsyncSequence` (iterate it once).
    public var updates: StateUpdateSequence { StateUpdateSequence(follower: self) }

    /// Every change as an `AsyncSequence` (iterate it once).
    public var changes: StateChangeSequence { StateChangeSequence(follower: self) }

    /// Applies batches until the state is consistent; false when the stream ended first.
    public func waitConsistent() async throws -> Bool {
        if isConsistent() { return true }
        for try await update in updates where update.consistent {
            return true
        }
        return false
    }
}

extension DurableStream {
    /// A follower of this State Protocol stream (nothing is sent until it is iterated).
    public func stateFollower(_ options: StateFollowerOptions = StateFollowerOptions()) throws -> StateFollower {
        try StateFollower(stream: self, options: options)
    }
}

// MARK: - Decodable entities

extension MaterializedState {
    /// The value at `entityType`/`key` decoded as `T`, or nil when absent.
    public func value<T: Decodable>(
        _ type: T.Type = T.self, entityType: String, key: String, decoder: JSONDecoder = JSONDecoder()
    ) throws -> T? {
        guard let text = get(entityType: entityType, key: key) else { return nil }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    /// Every entity of `entityType` decoded as `T`, by key.
    public func all<T: Decodable>(
        _ type: T.Type = T.self, entityType: String, decoder: JSONDecoder = JSONDecoder()
    ) throws -> [String: T] {
        var out: [String: T] = [:]
        for e in entities(entityType: entityType) {
            out[e.key] = try decoder.decode(T.self, from: Data(e.value.utf8))
        }
        return out
    }
}

extension StateChange {
    /// The new value decoded as `T` (nil for deletes and control events).
    public func value<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T? {
        guard let text = value else { return nil }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }
}

// MARK: - Event builders

/// Builds State Protocol events (JSON text), checked by the core.
public enum StateEvents {
    static func json<T: Encodable>(_ value: T, _ encoder: JSONEncoder) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// An insert of `value`.
    public static func insert<T: Encodable>(
        _ entityType: String, key: String, value: T, headers: [String: String] = [:],
        encoder: JSONEncoder = JSONEncoder()
    ) throws -> String {
        try buildChangeEvent(operation: "insert", entityType: entityType, key: key,
                             value: json(value, encoder), oldValue: nil, headers: headers)
    }

    /// An update to `value`.
    public static func update<T: Encodable>(
        _ entityType: String, key: String, value: T, headers: [String: String] = [:],
        encoder: JSONEncoder = JSONEncoder()
    ) throws -> String {
        try buildChangeEvent(operation: "update", entityType: entityType, key: key,
                             value: json(value, encoder), oldValue: nil, headers: headers)
    }

    /// An upsert (insert or replace) of `value`.
    public static func upsert<T: Encodable>(
        _ entityType: String, key: String, value: T, headers: [String: String] = [:],
        encoder: JSONEncoder = JSONEncoder()
    ) throws -> String {
        try buildChangeEvent(operation: "upsert", entityType: entityType, key: key,
                             value: json(value, encoder), oldValue: nil, headers: headers)
    }

    /// A delete.
    public static func delete(_ entityType: String, key: String, headers: [String: String] = [:]) throws -> String {
        try buildChangeEvent(operation: "delete", entityType: entityType, key: key,
                             value: nil, oldValue: nil, headers: headers)
    }
}

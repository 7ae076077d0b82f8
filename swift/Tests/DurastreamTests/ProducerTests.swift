import XCTest
@testable import Durastream

final class ProducerTests: XCTestCase {
    private func stream(_ contentType: String) async throws -> DurableStream {
        let s = try Shared.stream("prod")
        _ = try await s.create(options: CreateOptions(contentType: contentType))
        return s
    }

    func testAppendNeverWaitsAndFlushAcknowledgesEverything() async throws {
        let s = try await stream("text/plain")
        let p = try s.producer(producerId: "p1")
        for i in 0..<1000 { try p.appendText(text: "\(i),") }
        try await p.flush()
        XCTAssertEqual(p.bufferedBytes(), 0)
        XCTAssertNotNil(p.lastOffset())
        XCTAssertEqual(p.id(), "p1")
        XCTAssertEqual(p.epoch(), 0)
        let text = try await collectText(s)
        XCTAssertEqual(text, (0..<1000).map { "\($0)," }.joined())
    }

    func testWithProducerDetachesAndLeavesTheStreamOpen() async throws {
        let s = try await stream("application/json")
        let n = try await s.withProducer("p2") { p -> Int in
            try p.appendValue(Message(user: "ada", text: "one"))
            try p.appendJson(json: #"{"user":"bob","text":"two"}"#)
            return 2
        }
        XCTAssertEqual(n, 2)
        var users: [String] = []
        for try await m in s.readJson().items(Message.self) { users.append(m.user) }
        XCTAssertEqual(users, ["ada", "bob"])
        let closed = try await s.head().closed
        XCTAssertFalse(closed)
    }

    func testCloseStreamWithAFinalMessageIsIdempotent() async throws {
        let s = try await stream("text/plain")
        let p = try s.producer(producerId: "p3")
        try p.appendText(text: "body;")
        let first = try await p.closeStream(finalMessage: Data("end".utf8))
        let second = try await p.closeStream()
        XCTAssertEqual(first.finalOffset, second.finalOffset)
        let text = try await collectText(s)
        XCTAssertEqual(text, "body;end")
    }

    func testInvalidJsonIsRefusedBeforeSending() async throws {
        let s = try await stream("application/json")
        let p = try s.producer(producerId: "p4")
        try p.appendJson(json: #"{"ok":true}"#)
        XCTAssertThrowsError(try p.appendJson(json: "{broken")) { error in
            XCTAssertEqual((error as? DurastreamError)?.code, "PARSE_ERROR")
        }
        try await p.flush()
    }

    func testAStaleEpochReachesTheListenerAndTheNextAwaitedCall() async throws {
        let s = try await stream("text/plain")
        let newer = try s.producer(producerId: "p5", options: ProducerOptions(epoch: 5))
        try newer.appendText(text: "new;")
        try await newer.flush()
        let seen = Counter()
        let old = try s.producer(producerId: "p5", options: ProducerOptions(epoch: 1),
                                 onError: ClosureErrorListener { e in
                                     if case .StaleEpoch = e { _ = seen.increment() }
                                 })
        try old.appendText(text: "zombie;")
        let e = await failing { try await old.flush() }
        XCTAssertEqual(e?.code, "STALE_EPOCH")
        XCTAssertEqual(e?.info.currentEpoch, 5)
        for _ in 0..<50 where seen.value == 0 { try await Task.sleep(nanoseconds: 100_000_000) }
        XCTAssertEqual(seen.value, 1)
        XCTAssertEqual(old.error()?.code, "STALE_EPOCH")
        let epoch = try await old.restart()
        XCTAssertEqual(epoch, 6)
        try old.appendText(text: "restarted;")
        try await old.flush()
        let text = try await collectText(s)
        XCTAssertEqual(text, "new;restarted;")
    }

    func testAutoClaimTakesOverANewerEpoch() async throws {
        let s = try await stream("text/plain")
        try await s.withProducer("p6", options: ProducerOptions(epoch: 3)) { try $0.appendText(text: "a;") }
        let p = try s.producer(producerId: "p6", options: ProducerOptions(autoClaim: true))
        try p.appendText(text: "b;")
        try await p.flush()
        XCTAssertEqual(p.epoch(), 4)
        let text = try await collectText(s)
        XCTAssertEqual(text, "a;b;")
    }

    func testBufferFullWithoutWaitingAppendWaitWaitsForRoom() async throws {
        let s = try await stream("text/plain")
        let p = try s.producer(producerId: "p7", options: ProducerOptions(lingerMs: 50, maxBufferedBytes: 8))
        try p.appendText(text: "12345678")
        XCTAssertThrowsError(try p.appendText(text: "9")) { error in
            XCTAssertEqual((error as? DurastreamError)?.code, "BUFFER_FULL")
        }
        try await p.appendWait(data: Data("9".utf8))
        try await p.flush()
        let text = try await collectText(s)
        XCTAssertEqual(text, "123456789")
    }

    func testPipelinedBatchesArriveInOrder() async throws {
        let s = try await stream("text/plain")
        try await s.withProducer("p8", options: ProducerOptions(maxBatchBytes: 16, maxInFlight: 4, lingerMs: 0)) { p in
            for i in 0..<200 { try await p.appendWait(data: Data("\(i);".utf8)) }
        }
        let text = try await collectText(s)
        XCTAssertEqual(text, (0..<200).map { "\($0);" }.joined())
    }

    func testADetachedProducerRefusesAppends() async throws {
        let s = try await stream("text/plain")
        let p = try s.producer(producerId: "p9")
        try p.appendText(text: "x")
        try await p.detach()
        XCTAssertThrowsError(try p.appendText(text: "y")) { error in
            XCTAssertEqual((error as? DurastreamError)?.code, "PRODUCER_CLOSED")
        }
    }
}

import XCTest
@testable import Durastream

final class ReaderTests: XCTestCase {
    private func textStream(_ parts: String...) async throws -> DurableStream {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        for p in parts { _ = try await s.appendText(text: p) }
        return s
    }

    func testCatchUpSequenceEndsWhenUpToDate() async throws {
        let s = try await textStream("a", "b", "c")
        var chunks: [Chunk] = []
        for try await c in s.read().chunks { chunks.append(c) }
        XCTAssertEqual(chunks.map(\.text).joined(), "abc")
        XCTAssertEqual(chunks.last?.upToDate, true)
    }

    func testReaderReportsItsPositionAndResumes() async throws {
        let s = try await textStream("first")
        let r = s.read()
        _ = try await r.next()
        let end = try await r.next()
        XCTAssertNil(end)
        XCTAssertTrue(r.isDone())
        let offset = try XCTUnwrap(r.offset())
        _ = try await s.appendText(text: "second")
        var rest = ""
        for try await c in s.read(options: ReadOptions(offset: offset)).chunks { rest += c.text }
        XCTAssertEqual(rest, "second")
    }

    func testJsonItemsDecodeAsDecodable() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "application/json"))
        try await s.appendValue(Message(user: "ada", text: "hi"))
        try await s.appendValues([Message(user: "bob", text: "yo"), Message(user: "cy", text: "hey")])
        var users: [String] = []
        for try await m in s.readJson().items(Message.self) { users.append(m.user) }
        XCTAssertEqual(users, ["ada", "bob", "cy"])
    }

    func testLongPollDeliversDataAppendedLater() async throws {
        let s = try await textStream()
        let r = s.read(options: ReadOptions(offset: "now", live: .longPoll))
        let got = Task { () async throws -> String? in
            for try await c in r.chunks where !c.empty { return c.text }
            return nil
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        _ = try await s.appendText(text: "live!")
        let text = try await got.value
        XCTAssertEqual(text, "live!")
    }

    func testSseDeliversJsonMessagesLive() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "application/json"))
        let r = s.readJson(options: ReadOptions(live: .sse))
        let got = Task { () async throws -> [Message] in
            var out: [Message] = []
            for try await m in r.items(Message.self) {
                out.append(m)
                if out.count == 2 { break }
            }
            return out
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        try await s.appendValue(Message(user: "a", text: "1"))
        try await s.appendValue(Message(user: "b", text: "2"))
        let msgs = try await got.value
        XCTAssertEqual(msgs.map(\.user), ["a", "b"])
    }

    func testAutoModeEndsAtStreamClose() async throws {
        let s = try await textStream("x")
        let r = s.read(options: ReadOptions(live: .auto))
        let all = Task { () async throws -> [Chunk] in
            var out: [Chunk] = []
            for try await c in r.chunks { out.append(c) }
            return out
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        _ = try await s.appendText(text: "y")
        _ = try await s.closeStream()
        let chunks = try await all.value
        XCTAssertEqual(chunks.map(\.text).joined(), "xy")
        XCTAssertEqual(chunks.last?.closed, true)
    }

    func testNextBatchTakesWhatIsThereWithoutWaiting() async throws {
        let s = try await textStream("1", "2", "3")
        let r = s.read(options: ReadOptions(live: .longPoll))
        let batch = try await r.nextBatch(max: 10)
        XCTAssertFalse(batch.isEmpty)
        XCTAssertEqual(batch.last?.upToDate, true)
        XCTAssertEqual(batch.map(\.text).joined(), "123")
    }

    func testCancelStopsAWaitingRead() async throws {
        let s = try await textStream("a")
        let r = s.read(options: ReadOptions(offset: "now", live: .longPoll))
        let waiting = Task { try await r.next() }
        try await Task.sleep(nanoseconds: 200_000_000)
        r.cancel()
        let got = try await waiting.value
        XCTAssertNil(got)
        let after = try await r.next()
        XCTAssertNil(after)
        XCTAssertTrue(r.isDone())
    }
}

import XCTest
@testable import Durastream

final class ClientTests: XCTestCase {
    func testCreateAppendHeadAndReadBack() async throws {
        let s = try Shared.stream()
        let created = try await s.create(options: CreateOptions(contentType: "text/plain"))
        XCTAssertTrue(created.created)
        XCTAssertEqual(created.status, 201)
        let again = try await s.create(options: CreateOptions(contentType: "text/plain"))
        XCTAssertFalse(again.created)
        XCTAssertEqual(again.status, 200)
        let a = try await s.appendText(text: "hello ")
        let b = try await s.append(data: Data("world".utf8))
        XCTAssertGreaterThan(b.nextOffset, a.nextOffset)
        let info = try await s.head()
        XCTAssertEqual(info.nextOffset, b.nextOffset)
        XCTAssertEqual(info.contentType, "text/plain")
        XCTAssertFalse(info.closed)
        let chunk = try await s.read().next()
        XCTAssertEqual(chunk?.text, "hello world")
    }

    func testCreateWithBodyTtlAndClosed() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain", ttlSeconds: 3600, closed: true, body: Data("seed".utf8)))
        let info = try await s.head()
        XCTAssertTrue(info.closed)
        XCTAssertEqual(info.ttlSeconds, 3600)
        let chunk = try await s.read().next()
        XCTAssertEqual(chunk?.data, Data("seed".utf8))
        XCTAssertEqual(chunk?.closed, true)
    }

    func testJsonAppendAndBatch() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "application/json"))
        _ = try await s.appendJson(json: #"{"n":1}"#)
        _ = try await s.appendJson(json: "[1,2]")
        _ = try await s.appendJsonBatch(items: [#"{"n":2}"#, "\"three\""])
        let batch = try await s.readJson().next()
        XCTAssertEqual(batch?.items, [#"{"n":1}"#, "[1,2]", #"{"n":2}"#, "\"three\""])
    }

    func testAppendWithSeqAndDelete() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        _ = try await s.appendWith(data: Data("a".utf8), options: AppendOptions(seq: "0001"))
        _ = try await s.appendWith(data: Data("b".utf8), options: AppendOptions(seq: "0002"))
        try await s.delete()
        let e = await failing { _ = try await s.head() }
        XCTAssertEqual(e?.code, "NOT_FOUND")
    }

    func testForkInheritsTheSource() async throws {
        let src = try Shared.stream()
        _ = try await src.create(options: CreateOptions(contentType: "text/plain"))
        let cut = try await src.appendText(text: "before").nextOffset
        _ = try await src.appendText(text: "-after")
        let fork = try Shared.stream("fork")
        _ = try await fork.createFork(fork: ForkOptions(source: src.path(), offset: cut))
        _ = try await fork.appendText(text: "+fork")
        let text = try await collectText(fork)
        XCTAssertEqual(text, "before+fork")
    }

    func testDynamicHeadersAreAskedOnEveryRequest() async throws {
        let client = Client()
        let calls = Counter()
        client.setDynamicHeader("x-request-counter") { String(calls.increment()) }
        client.setParam(name: "tenant", value: "t1")
        let s = try client.stream(url: Shared.server.streamUrl(name: "dyn-\(UUID().uuidString)"))
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        _ = try await s.appendText(text: "x")
        _ = try await s.head()
        XCTAssertEqual(calls.value, 3)
        client.clearDynamic()
        _ = try await s.head()
        XCTAssertEqual(calls.value, 3)
    }

    func testClientOptionsAreValidated() async throws {
        XCTAssertThrowsError(try Client.withOptions(options: ClientOptions(retry: RetryConfig(maxRetries: -1)))) { error in
            XCTAssertEqual((error as? DurastreamError)?.info.argument, "maxRetries")
        }
        let c = try Client.withOptions(options: ClientOptions(
            headers: ["x-app": "tests"],
            retry: RetryConfig(maxRetries: 2, initialDelayMs: 10),
            timeouts: TimeoutConfig(requestMs: 5000)
        ))
        let created = try await c.stream(url: Shared.server.streamUrl(name: "opt-\(UUID().uuidString)")).create()
        XCTAssertTrue(created.created)
    }

    func testStreamHandleWithAnExtraHeader() async throws {
        let s = try Shared.stream().withHeader(name: "x-trace", value: "abc")
        let created = try await s.create(options: CreateOptions(contentType: "text/plain"))
        XCTAssertTrue(created.created)
        XCTAssertThrowsError(try Shared.stream().withHeader(name: "bad header", value: "x"))
    }

    func testInvalidUrlIsAnInvalidArgument() {
        XCTAssertThrowsError(try Shared.client.stream(url: "ftp://x/y")) { error in
            let e = error as? DurastreamError
            XCTAssertEqual(e?.info.argument, "url")
            XCTAssertEqual(e?.code, "INVALID_ARGUMENT")
        }
    }
}

/// A thread-safe counter for header providers.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

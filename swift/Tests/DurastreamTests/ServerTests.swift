import XCTest
@testable import Durastream

final class ServerTests: XCTestCase {
    func testUrlsOfAStartedServer() {
        let url = Shared.server.url()
        XCTAssertTrue(url.hasPrefix("http://127.0.0.1:"), url)
        XCTAssertEqual(Shared.server.streamUrl(name: "abc"), url + "/v1/stream/abc")
    }

    func testCustomPrefix() async throws {
        let server = try TestServer.start(options: TestServerOptions(prefix: "/"))
        XCTAssertEqual(server.streamUrl(name: "abc"), server.url() + "/abc")
        let created = try await Client().stream(url: server.streamUrl(name: "abc"))
            .create(options: CreateOptions(contentType: "text/plain"))
        XCTAssertTrue(created.created)
        try await server.shutdown()
    }

    func testFileEngineKeepsStreamsAcrossRestarts() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("durastream-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try TestServer.start(options: TestServerOptions(dataDir: dir.path))
        let s = try Client().stream(url: first.streamUrl(name: "durable"))
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        _ = try await s.appendText(text: "persisted")
        try await first.shutdown()
        let second = try TestServer.start(options: TestServerOptions(dataDir: dir.path))
        let again = try Client().stream(url: second.streamUrl(name: "durable"))
        let chunk = try await again.read().next()
        XCTAssertEqual(chunk?.text, "persisted")
        try await second.shutdown()
    }

    func testAfterShutdownRequestsFailWithANetworkError() async throws {
        let server = try TestServer.start()
        let url = server.streamUrl(name: "gone")
        try await server.shutdown()
        try await server.shutdown() // a second shutdown does nothing
        let client = try Client.withOptions(options: ClientOptions(retry: RetryConfig(maxRetries: 0)))
        let e = await failing { _ = try await client.stream(url: url).head() }
        XCTAssertTrue(["NETWORK_ERROR", "RETRY_EXHAUSTED"].contains(e?.code ?? ""), "\(String(describing: e))")
        XCTAssertEqual(e?.info.retryable, true)
    }
}

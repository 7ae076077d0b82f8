import Foundation
import XCTest
@testable import Durastream

/// One in-process server for the whole run (memory engine, short long-poll).
enum Shared {
    static let server: TestServer = try! TestServer.start(options: TestServerOptions(testFaults: true))
    static let client = Client()

    /// A handle on a stream with a fresh name.
    static func stream(_ prefix: String = "swift") throws -> DurableStream {
        try client.stream(url: server.streamUrl(name: "\(prefix)-\(UUID().uuidString)"))
    }
}

/// The error `body` throws (fails the test when it throws none, or another type).
func failing(_ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async -> DurastreamError? {
    do {
        try await body()
        XCTFail("expected an error", file: file, line: line)
    } catch let e as DurastreamError {
        return e
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
    return nil
}

func collectText(_ s: DurableStream) async throws -> String {
    var text = ""
    for try await c in s.read().chunks { text += c.text }
    return text
}

struct Message: Codable, Equatable {
    let user: String
    let text: String
}

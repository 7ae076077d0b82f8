import XCTest
@testable import Durastream

final class ErrorsTests: XCTestCase {
    func testNotFoundCarriesStatusUrlAndPath() async throws {
        let s = try Shared.stream("missing")
        let e = await failing { _ = try await s.head() }
        guard case .NotFound = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertEqual(e?.status, 404)
        XCTAssertEqual(e?.info.url, s.url())
        XCTAssertEqual(e?.info.streamPath, s.path())
        XCTAssertEqual(e?.info.retryable, false)
        XCTAssertFalse(e?.message.isEmpty ?? true)
    }

    func testConflictingCreate() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        let e = await failing { _ = try await s.create(options: CreateOptions(contentType: "application/json")) }
        XCTAssertEqual(e?.code, "CONFLICT")
        XCTAssertEqual(e?.status, 409)
    }

    func testAppendToAClosedStreamReportsTheFinalOffset() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        _ = try await s.appendText(text: "x")
        let closed = try await s.closeStream()
        let e = await failing { _ = try await s.appendText(text: "y") }
        guard case .StreamClosed(let info) = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertEqual(info.finalOffset, closed.finalOffset)
    }

    func testSequenceConflict() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        _ = try await s.appendWith(data: Data("a".utf8), options: AppendOptions(seq: "0002"))
        let e = await failing { _ = try await s.appendWith(data: Data("b".utf8), options: AppendOptions(seq: "0001")) }
        XCTAssertEqual(e?.code, "SEQUENCE_CONFLICT")
        XCTAssertEqual(e?.status, 409)
    }

    func testMalformedOffset() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        let e = await failing { _ = try await s.read(options: ReadOptions(offset: "not-an-offset")).next() }
        XCTAssertEqual(e?.code, "INVALID_OFFSET")
        XCTAssertEqual(e?.status, 400)
    }

    func testEmptyAppendIsABadRequest() async throws {
        let s = try Shared.stream()
        _ = try await s.create(options: CreateOptions(contentType: "text/plain"))
        let e = await failing { _ = try await s.append(data: Data()) }
        XCTAssertEqual(e?.code, "BAD_REQUEST")
        XCTAssertEqual(e?.status, 400)
    }

    func testInvalidJsonArgument() async throws {
        let s = try Shared.stream()
        let e = await failing { _ = try await s.appendJson(json: "{nope") }
        XCTAssertEqual(e?.code, "INVALID_ARGUMENT")
        XCTAssertEqual(e?.info.argument, "json")
    }

    func testValidationNamesTheOption() throws {
        XCTAssertThrowsError(try validateRetryOptions(retry: RetryConfig(initialDelayMs: 1000, maxDelayMs: 10))) { error in
            XCTAssertEqual((error as? DurastreamError)?.info.argument, "maxDelayMs")
        }
        XCTAssertThrowsError(try validateProducerOptions(options: ProducerOptions(maxBatchItems: 0), producerId: "p")) { error in
            XCTAssertEqual((error as? DurastreamError)?.info.argument, "maxBatchItems")
        }
        XCTAssertThrowsError(try validateProducerOptions(options: ProducerOptions(), producerId: "")) { error in
            XCTAssertEqual((error as? DurastreamError)?.info.argument, "producerId")
        }
        try validateRetryOptions(retry: RetryConfig(maxRetries: 3))
        try validateProducerOptions(options: ProducerOptions(epoch: 2, maxInFlight: 3))
    }
}

import Foundation
import XCTest
@testable import Durastream

struct Presence: Codable, Equatable {
    let status: String
}

final class StateTests: XCTestCase {
    func testEveryFixtureMaterializesToItsExpectedResult() throws {
        let dir = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tests/state/fixtures")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        XCTAssertGreaterThanOrEqual(files.count, 10)
        for name in files {
            let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(name))) as! [String: Any]
            let events = String(decoding: try JSONSerialization.data(withJSONObject: doc["events"]!), as: UTF8.self)
            let expected = doc["expected"] as! [String: Any]
            let s = MaterializedState()
            let out = try s.applyJson(events: events, skipMalformed: true)
            XCTAssertEqual(out.malformed.map { Int($0.index!) }, expected["malformed"] as! [Int], name)
            let got = try JSONSerialization.jsonObject(with: Data(s.toJson().utf8)) as! NSDictionary
            let want = (expected["state"] as! [String: [String: Any]]).filter { !$0.value.isEmpty }
            XCTAssertEqual(got, want as NSDictionary, name)
        }
    }

    func testDecodableEntitiesAndChanges() throws {
        let s = MaterializedState()
        let events = [
            try StateEvents.insert("presence", key: "ann", value: Presence(status: "online")),
            try StateEvents.update("presence", key: "ann", value: Presence(status: "away")),
            try StateEvents.delete("presence", key: "nobody"),
        ]
        let out = try s.applyJson(events: "[" + events.joined(separator: ",") + "]", skipMalformed: false)
        XCTAssertEqual(out.changes.map(\.kind), [.set, .set, .delete])
        XCTAssertEqual(try out.changes[1].value(Presence.self), Presence(status: "away"))
        XCTAssertEqual(try s.value(Presence.self, entityType: "presence", key: "ann"), Presence(status: "away"))
    }

    func testMalformedEventsNameTheField() throws {
        let s = MaterializedState()
        XCTAssertThrowsError(try s.applyJson(events: #"[{"type":"t","key":"k","headers":{"operation":"x"}}]"#, skipMalformed: false)) { e in
            guard case DurastreamError.State(let info, let field, let index, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(info.code, "MALFORMED_EVENT")
            XCTAssertEqual(field, "headers.operation")
            XCTAssertEqual(index, 0)
        }
    }

    func testFollowerChangesAsAsyncSequence() async throws {
        let s = try Shared.stream("state")
        _ = try await s.create(options: CreateOptions(contentType: "application/json"))
        _ = try await s.appendJson(json: try StateEvents.insert("presence", key: "ann", value: Presence(status: "online")))
        let f = try s.stateFollower()
        XCTAssertTrue(try await f.waitConsistent())
        XCTAssertEqual(try f.state().value(Presence.self, entityType: "presence", key: "ann"), Presence(status: "online"))
        _ = try await s.appendJson(json: try StateEvents.delete("presence", key: "ann"))
        for try await change in f.changes {
            XCTAssertEqual(change.kind, .delete)
            break
        }
        f.cancel()
    }
}

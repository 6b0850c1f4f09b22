import Foundation
import Logging
import Synchronization
import Testing

@testable import SuiteCore

final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    func append(_ bytes: [UInt8]) { lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
    var all: [String] { lines.withLock { $0 } }
}

@Suite struct JSONLogHandlerTests {
    @Test func writesOneJSONObjectPerLineWithMergedMetadata() throws {
        let lines = Lines()
        var logger = Logger(label: "user-identity") { label in
            JSONLogHandler(label: label, level: .info, output: { lines.append($0) })
        }
        logger[metadataKey: "request_id"] = "r1"
        logger[metadataKey: "shadowed"] = "handler"
        logger.info("request", metadata: ["status": .stringConvertible(200), "path": "/users/\"x\"", "shadowed": "event"])
        logger.debug("not written at info")

        #expect(lines.all.count == 1)
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false)
        let object = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
        #expect(object["level"] == "info")
        #expect(object["logger"] == "user-identity")
        #expect(object["msg"] == "request")
        #expect(object["request_id"] == "r1")
        #expect(object["status"] == 200)
        #expect(object["path"] == "/users/\"x\"")
        #expect(object["shadowed"] == "event")
        let timestamp = try #require(object["ts"]?.stringValue)
        #expect(timestamp.count == 24)
        #expect(try Regex(#"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#).wholeMatch(in: timestamp) != nil)
    }
}

@Suite struct SecureRandomTests {
    @Test(arguments: [0, 1, 7, 8, 9, 16, 33])
    func bytesHaveTheLengthAskedFor(count: Int) {
        #expect(SecureRandom.bytes(count).count == count)
    }

    @Test func drawsDiffer() {
        #expect(SecureRandom.hex(byteCount: 16) != SecureRandom.hex(byteCount: 16))
        #expect(SecureRandom.hex(byteCount: 16).count == 32)
    }

    @Test func stringsUseTheAlphabet() {
        let secret = SecureRandom.string(count: 128)
        #expect(secret.count == 128)
        #expect(secret.utf8.allSatisfy { SecureRandom.alphanumerics.contains($0) })
    }

    /// 100 characters: a plain `byte % 100` would draw the first 56 half again as often
    /// (4,688 against 3,125 times in 400,000); uniform draws stay within 4,000 ± 400
    /// (6 sigma).
    @Test func everyCharacterIsEquallyLikely() {
        let alphabet = (0..<100).map { UInt8($0 + 28) }
        var counts = [Int](repeating: 0, count: 100)
        for _ in 0..<400 {
            for byte in SecureRandom.string(count: 1_000, alphabet: alphabet).utf8 { counts[Int(byte) - 28] += 1 }
        }
        #expect(counts.allSatisfy { (3_600...4_400).contains($0) }, "\(counts)")
    }
}

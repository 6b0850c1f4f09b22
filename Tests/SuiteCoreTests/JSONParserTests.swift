import Foundation
import Testing

@testable import SuiteCore

/// The parser must read what Foundation reads, and refuse what RFC 8259 refuses.
@Suite struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func readsEveryKindOfValue() throws {
        let value = try parse(#" { "a": [1, -2.5e3, 0, true, false, null], "b": {"c": "d"}, "e": "" } "#)
        #expect(value == ["a": [1, -2500, 0, true, false, .null], "b": ["c": "d"], "e": ""])
        #expect(try parse("[]") == [])
        #expect(try parse("{}") == [:])
        #expect(try parse("  42 ") == 42)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{c}\n\r\t"))
        #expect(try parse(#""\u00e9\u20AC\ud83d\ude00""#) == .string("é€😀"))
        #expect(try parse("\"naïve ☕\"") == .string("naïve ☕"))
    }

    @Test func agreesWithFoundationOnARealisticBody() throws {
        let body = #"{"addresses":["4kenr7N9drpCJ4AfalmlGQVsOn3o2RHjkADUpXJWZUc","x y"],"algorithm":"sha256","pepper":"p","n":[1.5,-0.25,1e2]}"#
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
        #expect(try parse(body) == foundation)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", ".5", "1e", "-", "+1", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\u{1}b\"", "1 2", "[1] x", "{\"a\" 1}", "1e999",
    ])
    func refusesInvalidDocuments(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() throws {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        // After ASCII bytes, a byte that is no UTF-8 anywhere still fails the string.
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0x61, 0x62, 0xFF, 0x22]) }
        #expect(try JSONParser.parse([0x22, 0x61, 0x62, 0x22]) == .string("ab"))
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: JSONParser.Failure.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect((try? parse(fine)) != nil)
    }
}

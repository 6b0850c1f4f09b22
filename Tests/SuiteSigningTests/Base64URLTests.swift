import Foundation
import SuiteSigning
import Testing

@Suite struct Base64URLTests {
    @Test func matchesFoundationsBase64ForEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let standard = Data(bytes).base64EncodedString()
            let expected = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(expected) == Data(bytes))
            #expect(Base64URL.decode(standard) == Data(bytes), "padded standard base64 is read too")
        }
    }

    @Test func refusesWhatIsNotBase64() {
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("ab$d") == nil)
        #expect(Base64URL.decode("ab=c") == nil)
        #expect(Base64URL.decode("abc===") == nil)
        #expect(Base64URL.decode("ab c") == nil)
        // Bits after the last byte are ignored, as the Matrix specification's key needs.
        #expect(Base64URL.decode("QR") == Data([0x41]))
        #expect(Base64URL.decode("QQ") == Data([0x41]))
        #expect(Base64URL.decode("") == Data())
    }
}

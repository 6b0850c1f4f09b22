public import Foundation

/// Unpadded base64url (RFC 4648 §5), as JOSE writes it. Byte by byte: every token the
/// services sign or read goes through here, and Foundation's base64 plus string
/// replacements was a tenth of a token grant's CPU.
public enum Base64URL {
    /// The url alphabet's 64 characters, in value order.
    public static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Each byte's value in either alphabet (`+/` or `-_`); 0xFF for anything else.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        table[Int(UInt8(ascii: "+"))] = 62
        table[Int(UInt8(ascii: "/"))] = 63
        return table
    }()

    public static func encode(_ bytes: some DataProtocol) -> String {
        let input = Array(bytes)
        return input.withUnsafeBytes { input in
            String(unsafeUninitializedCapacity: encodedCount(input.count)) { encode(input, into: $0) }
        }
    }

    /// The length of `count` bytes' unpadded text.
    public static func encodedCount(_ count: Int) -> Int { (count * 4 + 2) / 3 }

    /// Writes `input`'s unpadded text into `out` (at least `encodedCount` long) and
    /// returns how much it wrote: for callers that build a larger text around it.
    public static func encode(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        alphabet.withUnsafeBufferPointer { alphabet in
            var written = 0
            var index = 0
            while index + 3 <= input.count {
                let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                out[written] = alphabet[Int(chunk >> 18 & 63)]
                out[written + 1] = alphabet[Int(chunk >> 12 & 63)]
                out[written + 2] = alphabet[Int(chunk >> 6 & 63)]
                out[written + 3] = alphabet[Int(chunk & 63)]
                written += 4
                index += 3
            }
            let rest = input.count - index
            if rest > 0 {
                let chunk = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
                out[written] = alphabet[Int(chunk >> 18 & 63)]
                out[written + 1] = alphabet[Int(chunk >> 12 & 63)]
                written += 2
                if rest == 2 {
                    out[written] = alphabet[Int(chunk >> 6 & 63)]
                    written += 1
                }
            }
            return written
        }
    }

    /// Decodes base64url or standard base64, padded or not; nil for anything else.
    public static func decode(_ text: some StringProtocol) -> Data? {
        var utf8 = Array(text.utf8)
        var padding = 0
        while utf8.last == UInt8(ascii: "=") {
            utf8.removeLast()
            padding += 1
        }
        guard padding <= 2, utf8.count % 4 != 1, padding == 0 || (utf8.count + padding) % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in utf8 {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits are ignored, as Foundation did: the Matrix specification's own
        // signing key is written with some set.
        return Data(out)
    }
}

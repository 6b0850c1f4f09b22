import Crypto
import Foundation

/// The code-offset fuzzy extractor (Dodis et al.): helper data P = w ⊕ C(k) for a random
/// key k, so a later w′ close to w gives back k by decoding P ⊕ w′. P reveals nothing of k
/// beyond what the code's redundancy does, and the server keeps only P and a public key.
///
/// Code of proto_version "1": each key bit repeated `r` times (majority decoding), over
/// the first `k × r` feature bits. Its parameters travel in the commitment, so a later
/// version can change them without breaking enrolled users.
public struct RepetitionCode: Sendable, Equatable, Codable {
    /// Codeword length in bits.
    public let n: Int
    /// Key bits.
    public let k: Int
    /// Bit errors corrected per block (⌊(r − 1) / 2⌋).
    public let t: Int

    public var repetitions: Int { n / k }

    public static let version1 = RepetitionCode(n: 255, k: 85, t: 1)

    public init(n: Int, k: Int, t: Int) {
        self.n = n
        self.k = k
        self.t = t
    }

    /// Whether these parameters describe a repetition code this library decodes.
    public var isValid: Bool {
        k > 0 && n % k == 0 && repetitions % 2 == 1 && t == (repetitions - 1) / 2 && n <= ImageFeatures.bitCount && k >= 32
    }

    public func encode(_ key: [UInt8]) -> [UInt8] {
        key.flatMap { bit in [UInt8](repeating: bit, count: repetitions) }
    }

    /// The key bits by majority of each block.
    public func decode(_ word: [UInt8]) -> [UInt8] {
        (0..<k).map { block in
            let ones = word[(block * repetitions)..<((block + 1) * repetitions)].reduce(0) { $0 + Int($1) }
            return ones * 2 > repetitions ? 1 : 0
        }
    }
}

public enum FuzzyExtractor {
    /// Enrolment: a fresh random key and the helper data that hides it under `features`.
    public static func enroll(features: [UInt8], code: RepetitionCode) -> (key: [UInt8], helper: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<code.k).map { _ in UInt8.random(in: 0...1, using: &generator) }
        let codeword = code.encode(key)
        return (key, zip(features.prefix(code.n), codeword).map { $0 ^ $1 })
    }

    /// Login: the key back from a new reading, and how many feature bits differed from
    /// the enrolled ones as far as the decoded codeword tells (the client's BER).
    public static func reproduce(features: [UInt8], helper: [UInt8], code: RepetitionCode) -> (key: [UInt8], errorBits: Int) {
        let noisy = zip(features.prefix(code.n), helper).map { $0 ^ $1 }
        let key = code.decode(noisy)
        let codeword = code.encode(key)
        let errors = zip(noisy, codeword).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) }
        return (key, errors)
    }

    /// Bits as bytes, most significant bit first (the last byte padded with zeros).
    public static func pack(_ bits: [UInt8]) -> [UInt8] {
        stride(from: 0, to: bits.count, by: 8).map { start in
            bits[start..<min(start + 8, bits.count)].enumerated().reduce(UInt8(0)) { $0 | ($1.element << (7 - $1.offset)) }
        }
    }

    public static func unpack(_ bytes: [UInt8], count: Int) -> [UInt8] {
        (0..<count).map { (bytes[$0 / 8] >> (7 - $0 % 8)) & 1 }
    }
}

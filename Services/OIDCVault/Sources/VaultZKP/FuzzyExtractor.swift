import Crypto
import Foundation

/// Reed–Solomon over GF(2⁸) (primitive polynomial x⁸+x⁴+x³+x²+1, first consecutive root
/// α⁰): systematic encoding, and decoding by syndromes, Berlekamp–Massey, Chien search
/// and Forney. Corrects up to t = (n − k) / 2 wrong bytes.
///
/// The code of proto_version "1" is RS(31, 17, t = 7) over the 248 feature bits packed
/// eight to a byte, least reliable bits last, so the bits most likely to flip share bytes
/// and cost few symbol errors. Its parameters travel in the commitment, so a later
/// version can change them without breaking enrolled users.
public struct ExtractorCode: Sendable, Equatable {
    /// Codeword length in bytes.
    public let n: Int
    /// Key bytes.
    public let k: Int
    /// Byte errors corrected.
    public let t: Int

    public static let version1 = ExtractorCode(n: 31, k: 17, t: 7)
    public static let kind = "reed-solomon-gf256"

    public init(n: Int, k: Int, t: Int) {
        self.n = n
        self.k = k
        self.t = t
    }

    /// Whether these parameters describe a code this library decodes over the features.
    public var isValid: Bool {
        n * 8 == ImageFeatures.bitCount && k >= 8 && k < n && n - k == 2 * t
    }

    // MARK: GF(256)

    private static let tables: (exp: [UInt8], log: [Int]) = {
        var exp = [UInt8](repeating: 0, count: 512)
        var log = [Int](repeating: 0, count: 256)
        var x = 1
        for i in 0..<255 {
            exp[i] = UInt8(x)
            log[x] = i
            x <<= 1
            if x & 0x100 != 0 { x ^= 0x11D }
        }
        for i in 255..<512 { exp[i] = exp[i - 255] }
        return (exp, log)
    }()

    static func mul(_ a: UInt8, _ b: UInt8) -> UInt8 {
        if a == 0 || b == 0 { return 0 }
        return tables.exp[tables.log[Int(a)] + tables.log[Int(b)]]
    }

    static func div(_ a: UInt8, _ b: UInt8) -> UInt8 {
        if a == 0 { return 0 }
        return tables.exp[(tables.log[Int(a)] + 255 - tables.log[Int(b)]) % 255]
    }

    static func power(_ exponent: Int) -> UInt8 { tables.exp[((exponent % 255) + 255) % 255] }

    /// p(x) at x, coefficients highest degree first.
    static func evaluate(_ p: [UInt8], at x: UInt8) -> UInt8 {
        p.reduce(0) { mul($0, x) ^ $1 }
    }

    /// g(x) = ∏ (x − αⁱ), i in 0..<2t, highest degree first.
    private var generator: [UInt8] {
        var g: [UInt8] = [1]
        for i in 0..<(n - k) {
            var next = [UInt8](repeating: 0, count: g.count + 1)
            for (j, coefficient) in g.enumerated() {
                next[j] ^= coefficient
                next[j + 1] ^= Self.mul(coefficient, Self.power(i))
            }
            g = next
        }
        return g
    }

    // MARK: Bytes

    /// The message followed by its n − k parity bytes.
    public func encode(bytes message: [UInt8]) -> [UInt8] {
        precondition(message.count == k)
        let g = generator
        var remainder = message + [UInt8](repeating: 0, count: n - k)
        for i in 0..<k where remainder[i] != 0 {
            let factor = remainder[i]
            for j in 1..<g.count { remainder[i + j] ^= Self.mul(g[j], factor) }
        }
        return message + remainder[k...]
    }

    /// The message of the nearest codeword, or nil when more than t bytes are wrong (as
    /// far as the decoder can tell).
    public func decode(bytes received: [UInt8]) -> [UInt8]? {
        precondition(received.count == n)
        let syndromes = (0..<(n - k)).map { Self.evaluate(received, at: Self.power($0)) }
        if syndromes.allSatisfy({ $0 == 0 }) { return Array(received.prefix(k)) }
        // Berlekamp–Massey: the error locator Λ(x), lowest degree first.
        var locator: [UInt8] = [1]
        var previous: [UInt8] = [1]
        var length = 0
        var shift = 1
        var lastDiscrepancy: UInt8 = 1
        for step in 0..<syndromes.count {
            var discrepancy = syndromes[step]
            for i in stride(from: 1, through: length, by: 1) where i < locator.count {
                discrepancy ^= Self.mul(locator[i], syndromes[step - i])
            }
            if discrepancy == 0 {
                shift += 1
                continue
            }
            let scale = Self.div(discrepancy, lastDiscrepancy)
            var updated = locator
            if updated.count < previous.count + shift { updated += [UInt8](repeating: 0, count: previous.count + shift - updated.count) }
            for (i, coefficient) in previous.enumerated() { updated[i + shift] ^= Self.mul(scale, coefficient) }
            if 2 * length <= step {
                previous = locator
                length = step + 1 - length
                lastDiscrepancy = discrepancy
                shift = 1
            } else {
                shift += 1
            }
            locator = updated
        }
        while locator.count > 1, locator.last == 0 { locator.removeLast() }
        let degree = locator.count - 1
        guard degree == length, degree <= t else { return nil }
        // Chien search: byte i (from the start) is the coefficient of x^(n−1−i); it is wrong
        // when Λ(α^−(n−1−i)) = 0.
        let highestFirst = Array(locator.reversed())
        var positions: [Int] = []
        for i in 0..<n where Self.evaluate(highestFirst, at: Self.power(-(n - 1 - i))) == 0 { positions.append(i) }
        guard positions.count == degree else { return nil }
        // Forney (first root α⁰): e = X · Ω(X⁻¹) / Λ′(X⁻¹), Ω = S·Λ mod x^(2t).
        var omega = [UInt8](repeating: 0, count: n - k)
        for (i, s) in syndromes.enumerated() {
            for (j, l) in locator.enumerated() where i + j < omega.count { omega[i + j] ^= Self.mul(s, l) }
        }
        var corrected = received
        for position in positions {
            let x = Self.power(n - 1 - position)
            let inverse = Self.power(-(n - 1 - position))
            var omegaValue: UInt8 = 0
            var power: UInt8 = 1
            for coefficient in omega {
                omegaValue ^= Self.mul(coefficient, power)
                power = Self.mul(power, inverse)
            }
            // Λ′(x): the odd terms, lowered by one degree (characteristic 2).
            var derivative: UInt8 = 0
            for (j, coefficient) in locator.enumerated() where j % 2 == 1 {
                derivative ^= Self.mul(coefficient, Self.power(-(n - 1 - position) * (j - 1)))
            }
            guard derivative != 0 else { return nil }
            corrected[position] ^= Self.mul(x, Self.div(omegaValue, derivative))
        }
        let check = (0..<(n - k)).map { Self.evaluate(corrected, at: Self.power($0)) }
        guard check.allSatisfy({ $0 == 0 }) else { return nil }
        return Array(corrected.prefix(k))
    }
}

/// The code-offset fuzzy extractor (Dodis et al.): helper data P = w ⊕ C(k) for a random
/// key k, so a later w′ close to w gives back k by decoding P ⊕ w′. P reveals nothing of k
/// beyond what the code's redundancy does, and the server keeps only P and a public key.
public enum FuzzyExtractor {
    /// Enrolment: a fresh random key (k bytes) and the helper data (n·8 bits) that hides
    /// it under `features`.
    public static func enroll(features: [UInt8], code: ExtractorCode) -> (key: [UInt8], helper: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<code.k).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let codeword = unpack(code.encode(bytes: key), count: code.n * 8)
        return (key, zip(features.prefix(code.n * 8), codeword).map { $0 ^ $1 })
    }

    /// Login: the key back from a new reading (nil when too many bytes differ), and how
    /// many feature bits differed from the enrolled ones as far as decoding tells (the
    /// client's BER; all of them when decoding failed).
    public static func reproduce(features: [UInt8], helper: [UInt8], code: ExtractorCode) -> (key: [UInt8]?, errorBits: Int) {
        let noisy = zip(features.prefix(code.n * 8), helper).map { $0 ^ $1 }
        guard let key = code.decode(bytes: pack(noisy)) else { return (nil, code.n * 8) }
        let codeword = unpack(code.encode(bytes: key), count: code.n * 8)
        return (key, zip(noisy, codeword).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) })
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

public import Crypto
import Foundation
import SuiteCore
import SuiteSigning

/// The zero-knowledge login, proto_version "1", as both ends speak it. The image and
/// the key it unlocks never leave the device; the server keeps an Ed25519 public key
/// and the helper data.
public enum ZKP {
    public static let protoVersion = "1"
    public static let algorithmVersion = "dct32-reliable248-rs31-17-v1"

    /// What the client seals to the tenant's encryption key at enrolment.
    public struct Commitment: Sendable, Equatable {
        public var publicKey: Curve25519.Signing.PublicKey
        public var helper: Helper
        public var code: ExtractorCode
        public var algorithmVersion: String
        public var imageDim: [Int]

        public init(publicKey: Curve25519.Signing.PublicKey, helper: Helper, code: ExtractorCode, algorithmVersion: String, imageDim: [Int]) {
            self.publicKey = publicKey
            self.helper = helper
            self.code = code
            self.algorithmVersion = algorithmVersion
            self.imageDim = imageDim
        }

        public static func == (lhs: Commitment, rhs: Commitment) -> Bool {
            lhs.publicKey.rawRepresentation == rhs.publicKey.rawRepresentation && lhs.helper == rhs.helper
                && lhs.code == rhs.code && lhs.algorithmVersion == rhs.algorithmVersion && lhs.imageDim == rhs.imageDim
        }

        public var json: JSONValue {
            [
                "public_key": .string(Base64URL.encode(publicKey.rawRepresentation)),
                "helper": helper.json,
                "code": code.json,
                "algorithm_version": .string(algorithmVersion),
                "image_dim": .array(imageDim.map { .number(Double($0)) }),
            ]
        }

        /// Reads and checks a decrypted commitment; the message says what is wrong.
        public static func parse(_ value: JSONValue) throws(ParseError) -> Commitment {
            guard let keyText = value["public_key"]?.stringValue, let keyBytes = Base64URL.decode(keyText),
                let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes)
            else { throw ParseError("public_key must be a base64url Ed25519 public key") }
            guard let codeValue = value["code"] else { throw ParseError("code is missing") }
            let code = try ExtractorCode.parse(codeValue)
            guard let helperValue = value["helper"] else { throw ParseError("helper is missing") }
            let helper = try Helper.parse(helperValue, code: code)
            guard let algorithm = value["algorithm_version"]?.stringValue, algorithm == ZKP.algorithmVersion else {
                throw ParseError("algorithm_version must be \(ZKP.algorithmVersion)")
            }
            let dims = value["image_dim"]?.arrayValue?.compactMap(\.intValue) ?? []
            guard dims.count == 2, dims.allSatisfy({ (1...8192).contains($0) }) else {
                throw ParseError("image_dim must be [width, height]")
            }
            return Commitment(publicKey: publicKey, helper: helper, code: code, algorithmVersion: algorithm, imageDim: dims)
        }
    }

    /// Public helper data: which DCT coefficients are read, and P = w ⊕ C(k).
    public struct Helper: Sendable, Equatable {
        public var positions: [Int]
        public var offset: [UInt8]

        public init(positions: [Int], offset: [UInt8]) {
            self.positions = positions
            self.offset = offset
        }

        /// Positions as big-endian 16-bit numbers, then the packed offset bits.
        public var bytes: [UInt8] {
            positions.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + FuzzyExtractor.pack(offset)
        }

        public var json: JSONValue {
            [
                "positions": .string(Base64URL.encode(positions.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })),
                "offset": .string(Base64URL.encode(FuzzyExtractor.pack(offset))),
            ]
        }

        public static func parse(_ value: JSONValue, code: ExtractorCode) throws(ParseError) -> Helper {
            let offsetBits = code.n * 8
            guard let positionsText = value["positions"]?.stringValue, let positionBytes = Base64URL.decode(positionsText),
                positionBytes.count == ImageFeatures.bitCount * 2
            else { throw ParseError("helper.positions must hold \(ImageFeatures.bitCount) positions") }
            let raw = Array(positionBytes)
            let pool = ImageFeatures.poolSide * ImageFeatures.poolSide - 1
            let positions = stride(from: 0, to: raw.count, by: 2).map { Int(raw[$0]) << 8 | Int(raw[$0 + 1]) }
            guard positions.allSatisfy({ $0 < pool }), Set(positions).count == positions.count else {
                throw ParseError("helper.positions must be distinct coefficients of the pool")
            }
            guard let offsetText = value["offset"]?.stringValue, let offsetBytes = Base64URL.decode(offsetText),
                offsetBytes.count == code.n
            else { throw ParseError("helper.offset must hold n bytes") }
            return Helper(positions: positions, offset: FuzzyExtractor.unpack(Array(offsetBytes), count: offsetBits))
        }
    }

    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The Ed25519 key of a user: HKDF-SHA256 of the extracted key, bound to tenant and
    /// username so one image gives unrelated keys in two tenants.
    public static func signingKey(key: [UInt8], tenant: String, username: String) -> Curve25519.Signing.PrivateKey {
        let seed = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: key), salt: Array("oidc-vault zkp v1".utf8),
            info: Array(tenant.utf8) + [0] + Array(username.utf8), outputByteCount: 32)
        return seed.withUnsafeBytes { try! Curve25519.Signing.PrivateKey(rawRepresentation: $0) }
    }

    /// What the signature covers: a domain tag, then each field as a 4-byte big-endian
    /// length and its bytes, so no two transcripts share an encoding.
    public static func transcript(
        tenant: String, client: String, username: String, challengeID: String, nonce: [UInt8], algorithmVersion: String,
        helper: Helper
    ) -> [UInt8] {
        var out = Array("oidc-vault/zkp-login".utf8)
        for field in [
            Array(tenant.utf8), Array(client.utf8), Array(username.utf8), Array(challengeID.utf8), nonce,
            Array(protoVersion.utf8), Array(algorithmVersion.utf8), Array(SHA256.hash(data: helper.bytes)),
        ] {
            out.append(contentsOf: withUnsafeBytes(of: UInt32(field.count).bigEndian, Array.init))
            out.append(contentsOf: field)
        }
        return out
    }
}

extension ExtractorCode {
    public var json: JSONValue {
        ["type": .string(Self.kind), "n": .number(Double(n)), "k": .number(Double(k)), "t": .number(Double(t))]
    }

    public static func parse(_ value: JSONValue) throws(ZKP.ParseError) -> ExtractorCode {
        guard value["type"]?.stringValue == kind, let n = value["n"]?.intValue, let k = value["k"]?.intValue, let t = value["t"]?.intValue
        else { throw ZKP.ParseError("code must be {type: \(kind), n, k, t}") }
        let code = ExtractorCode(n: n, k: k, t: t)
        guard code.isValid else { throw ZKP.ParseError("code parameters are not a supported Reed–Solomon code over the features") }
        return code
    }
}

import _CryptoExtras
public import Crypto
import Foundation
public import Logging
public import PostgresNIO
import SuiteCore
import SuiteSigning
import Synchronization

/// The algorithms a client may choose for its tokens (`sing_alg`, as the seed spells it).
public enum SigningAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256"
    case eddsa = "EdDSA"
}

/// The vault's keys: Ed25519 and RSA for signing, X25519 for the commitments clients
/// seal. They live in PostgreSQL, sealed under the at-rest key, so every replica signs
/// with the same keys and `oidc-vault keys rotate` reaches all of them within
/// `reloadInterval`. The newest active key of each kind signs; retired keys stay in the
/// JWKS (and usable for decryption) until `published_until`.
public final class KeyRing: Sendable {
    struct Keys: Sendable {
        var eddsa: [Ed25519SigningKey]
        var rsa: [(kid: String, key: _RSA.Signing.PrivateKey)]
        var encryption: [(kid: String, key: Curve25519.KeyAgreement.PrivateKey)]
        /// The JWKS document, written once per load.
        var jwks: [UInt8]
        /// Header segments of the signing keys in use, per algorithm and `typ`.
        var headers: [String: String]
    }

    let database: PostgresClient
    let logger: Logger
    let atRestKey: SymmetricKey
    let imported: [Ed25519SigningKey]
    let reloadInterval: Duration
    let retirementSeconds: Int
    private let state = Mutex<(keys: Keys?, loadedAt: ContinuousClock.Instant, loading: Bool)>((nil, .now, false))

    public init(
        database: PostgresClient, logger: Logger, atRestKey: SymmetricKey, imported: [Ed25519SigningKey] = [],
        reloadInterval: Duration = .seconds(30), retirementSeconds: Int = 86_400
    ) {
        self.database = database
        self.logger = logger
        self.atRestKey = atRestKey
        self.imported = imported
        self.reloadInterval = reloadInterval
        self.retirementSeconds = retirementSeconds
    }

    /// The keys, loaded (and made, the first time) from PostgreSQL; reloaded in the
    /// background of one request once they are older than `reloadInterval`.
    func current() async throws -> Keys {
        let (cached, stale) = state.withLock { state -> (Keys?, Bool) in
            let stale = state.keys == nil || (ContinuousClock.now - state.loadedAt > reloadInterval && !state.loading)
            if stale, state.keys != nil { state.loading = true }
            return (state.keys, stale)
        }
        if let cached, !stale { return cached }
        do {
            let keys = try await load()
            state.withLock { $0 = (keys, .now, false) }
            return keys
        } catch {
            state.withLock { $0.loading = false }
            if let cached { return cached }
            throw error
        }
    }

    /// The JWKS document (`{"keys":[…]}`).
    public func jwks() async throws -> [UInt8] { try await current().jwks }

    /// The encryption keys by `kid`, newest first: commitments sealed to a retired key
    /// still open while it is published.
    func encryptionKey(kid: String?) async throws -> Curve25519.KeyAgreement.PrivateKey? {
        let keys = try await current().encryption
        guard let kid else { return keys.first?.key }
        return keys.first { $0.kid == kid }?.key
    }

    /// A signed JWT: `claims` with the newest key of `algorithm`, header `typ` as given.
    func sign(_ claims: JSONValue, algorithm: SigningAlgorithm, type: String = "JWT") async throws -> String {
        let keys = try await current()
        let payload = Base64URL.encode(CanonicalJSON.bytes(claims))
        guard let header = keys.headers[algorithm.rawValue + "|" + type] ?? makeHeader(keys, algorithm, type) else {
            throw AppError.unavailable("No signing key is available.")
        }
        let input = header + "." + payload
        let signature: Data
        switch algorithm {
        case .eddsa: signature = try keys.eddsa[0].key.signature(for: Array(input.utf8))
        case .rs256: signature = try keys.rsa[0].key.signature(for: Array(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        return input + "." + Base64URL.encode(signature)
    }

    private func makeHeader(_ keys: Keys, _ algorithm: SigningAlgorithm, _ type: String) -> String? {
        let kid: String?
        switch algorithm {
        case .eddsa: kid = keys.eddsa.first?.kid
        case .rs256: kid = keys.rsa.first?.kid
        }
        guard let kid else { return nil }
        return Base64URL.encode(CanonicalJSON.bytes(["alg": .string(algorithm.rawValue), "kid": .string(kid), "typ": .string(type)]))
    }

    public enum VerifyFailure: Error, Equatable {
        case malformed, unknownKey, badSignature
    }

    /// The header and claims of a token one of our published keys signed. The algorithm is
    /// the key's own, never the header's word alone; claims are the caller's to check.
    func verify(_ token: String) async throws -> (header: JSONValue, claims: JSONValue) {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count < 16_384, let headerBytes = Base64URL.decode(Substring(parts[0])),
            let payloadBytes = Base64URL.decode(Substring(parts[1])), let signature = Base64URL.decode(Substring(parts[2])),
            let header = try? JSONParser.parse(Array(headerBytes)), let claims = try? JSONParser.parse(Array(payloadBytes)),
            case .object = claims, let kid = header["kid"]?.stringValue, let alg = header["alg"]?.stringValue
        else { throw VerifyFailure.malformed }
        let input = Array(token.utf8.prefix(parts[0].count + 1 + parts[1].count))
        let keys = try await current()
        if alg == "EdDSA", let key = keys.eddsa.first(where: { $0.kid == kid }) {
            guard key.publicKey.isValidSignature(signature, for: input) else { throw VerifyFailure.badSignature }
        } else if alg == "RS256", let key = keys.rsa.first(where: { $0.kid == kid }) {
            guard key.key.publicKey.isValidSignature(.init(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5)
            else { throw VerifyFailure.badSignature }
        } else {
            throw VerifyFailure.unknownKey
        }
        return (header, claims)
    }

    // MARK: - Storage

    private static let lockID: Int64 = 0x7661_756C_746B_6579  // "vaultkey"

    private func load() async throws -> Keys {
        try await database.withRequestTransaction(logger: logger) { connection in
            _ = try await connection.sql("SELECT pg_advisory_xact_lock(\(Self.lockID))", logger: logger)
            for key in imported {
                try await insert(kid: key.kid, alg: "EdDSA", raw: Array(key.key.rawRepresentation), on: connection, ifAbsent: true)
            }
            var rows = try await published(on: connection)
            for alg in ["EdDSA", "RS256", "ECDH-ES"] where !rows.contains(where: { $0.alg == alg && $0.active }) {
                try await generate(alg, on: connection)
                rows = try await published(on: connection)
            }
            return try build(rows)
        }
    }

    /// Retires the keys in use (published `retirementSeconds` more) and makes new ones.
    public func rotate() async throws -> [String] {
        try await database.withRequestTransaction(logger: logger) { connection in
            _ = try await connection.sql("SELECT pg_advisory_xact_lock(\(Self.lockID))", logger: logger)
            try await connection.sql(
                """
                UPDATE signing_keys SET retired_at = now(), published_until = now() + make_interval(secs => \(Double(retirementSeconds)))
                WHERE retired_at IS NULL
                """, logger: logger)
            var kids: [String] = []
            for alg in ["EdDSA", "RS256", "ECDH-ES"] { kids.append(try await generate(alg, on: connection)) }
            return kids
        }
    }

    struct Row {
        var kid: String
        var alg: String
        var raw: [UInt8]
        var active: Bool
    }

    private func published(on connection: PostgresConnection) async throws -> [Row] {
        let rows = try await connection.sql(
            """
            SELECT kid, alg, private_key, retired_at IS NULL FROM signing_keys
            WHERE retired_at IS NULL OR published_until > now()
            ORDER BY retired_at IS NULL DESC, created_at DESC
            """, logger: logger)
        var out: [Row] = []
        for try await (kid, alg, sealed, active) in rows.decode((String, String, ByteBuffer, Bool).self) {
            let box = try AES.GCM.SealedBox(combined: Data(buffer: sealed))
            out.append(Row(kid: kid, alg: alg, raw: Array(try AES.GCM.open(box, using: atRestKey, authenticating: Array(kid.utf8))), active: active))
        }
        return out
    }

    @discardableResult
    private func generate(_ alg: String, on connection: PostgresConnection) async throws -> String {
        let raw: [UInt8]
        let kid: String
        switch alg {
        case "EdDSA":
            let key = Ed25519SigningKey.generate()
            (raw, kid) = (Array(key.key.rawRepresentation), key.kid)
        case "RS256":
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let primitives = try key.publicKey.getKeyPrimitives()
            raw = Array(key.derRepresentation)
            kid = JWKS.thumbprint(ofRSA: PublicJWK(
                kty: "RSA", n: Base64URL.encode(primitives.modulus), e: Base64URL.encode(primitives.publicExponent),
                kid: nil, alg: nil, use: nil))
        default:
            let key = Curve25519.KeyAgreement.PrivateKey()
            raw = Array(key.rawRepresentation)
            kid = "enc-" + String(Base64URL.encode(Array(SHA256.hash(data: key.publicKey.rawRepresentation))).prefix(12))
        }
        try await insert(kid: kid, alg: alg, raw: raw, on: connection, ifAbsent: false)
        logger.notice("new key", metadata: ["kid": "\(kid)", "alg": "\(alg)"])
        return kid
    }

    private func insert(kid: String, alg: String, raw: [UInt8], on connection: PostgresConnection, ifAbsent: Bool) async throws {
        // The kid is authenticated with the key, so a row cannot be moved to another kid.
        let sealed = try AES.GCM.seal(raw, using: atRestKey, authenticating: Array(kid.utf8)).combined!
        if ifAbsent {
            try await connection.sql(
                "INSERT INTO signing_keys (kid, alg, private_key) VALUES (\(kid), \(alg), \(ByteBuffer(data: sealed))) ON CONFLICT (kid) DO NOTHING",
                logger: logger)
        } else {
            try await connection.sql(
                "INSERT INTO signing_keys (kid, alg, private_key) VALUES (\(kid), \(alg), \(ByteBuffer(data: sealed)))", logger: logger)
        }
    }

    private func build(_ rows: [Row]) throws -> Keys {
        var keys = Keys(eddsa: [], rsa: [], encryption: [], jwks: [], headers: [:])
        var jwks: [JSONValue] = []
        for row in rows {
            switch row.alg {
            case "EdDSA":
                let key = Ed25519SigningKey(key: try Curve25519.Signing.PrivateKey(rawRepresentation: row.raw), kid: row.kid)
                keys.eddsa.append(key)
                jwks.append([
                    "kty": "OKP", "crv": "Ed25519", "x": .string(Base64URL.encode(key.publicKey.rawRepresentation)),
                    "kid": .string(row.kid), "alg": "EdDSA", "use": "sig",
                ])
            case "RS256":
                let key = try _RSA.Signing.PrivateKey(derRepresentation: row.raw)
                let primitives = try key.publicKey.getKeyPrimitives()
                keys.rsa.append((row.kid, key))
                jwks.append([
                    "kty": "RSA", "n": .string(Base64URL.encode(primitives.modulus)),
                    "e": .string(Base64URL.encode(primitives.publicExponent)), "kid": .string(row.kid), "alg": "RS256", "use": "sig",
                ])
            default:
                let key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: row.raw)
                keys.encryption.append((row.kid, key))
                jwks.append([
                    "kty": "OKP", "crv": "X25519", "x": .string(Base64URL.encode(key.publicKey.rawRepresentation)),
                    "kid": .string(row.kid), "alg": "ECDH-ES", "use": "enc",
                ])
            }
        }
        keys.jwks = CanonicalJSON.bytes(["keys": .array(jwks)])
        for algorithm in SigningAlgorithm.allCases {
            for type in ["JWT", "at+jwt"] {
                if let header = makeHeader(keys, algorithm, type) { keys.headers[algorithm.rawValue + "|" + type] = header }
            }
        }
        return keys
    }
}

import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// Published associations between a validated address and a Matrix user ID: bind,
/// unbind, and the lookups, v1 (signed, by address) and v2 (hashed with a pepper).
struct Associations: Sendable {
    let store: AssociationStore
    let settings: IdentitySettings
    let sessions: ValidationSessions
    let batcher: LookupBatcher
    /// nil with `IS_LOOKUP_INDEX=database`: every lookup asks PostgreSQL.
    let index: AssociationIndex?
    /// Homeserver-signed unbind requests.
    let serverRequests: ServerRequestVerifier
    /// v1 lookup answers already signed.
    let signed = SignedAnswers()

    /// 100 years, as sydent publishes associations.
    static let validity: Int64 = 100 * 365 * 86_400 * 1000

    /// The v2 `sha256` hash of an address: unpadded base64url of SHA-256("address medium pepper").
    static func lookupHash(address: String, medium: String, pepper: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array("\(address) \(medium) \(pepper)".utf8))))
    }

    /// The folded form addresses are stored and compared in.
    static func fold(medium: String, address: String) -> String {
        medium == "email" ? Matrix.foldedEmail(address) : address.trimmingCharacters(in: .whitespaces)
    }

    /// The association object bind and lookup sign.
    static func object(medium: String, address: String, mxid: String, ts: Int64, notBefore: Int64, notAfter: Int64) -> [String: JSONValue] {
        [
            "address": .string(address), "medium": .string(medium), "mxid": .string(mxid),
            "ts": .number(Double(ts)), "not_before": .number(Double(notBefore)), "not_after": .number(Double(notAfter)),
        ]
    }

    // MARK: bind / unbind

    /// `POST …/3pid/bind` (and v1's `/bind`).
    func bind(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("sid", "client_secret", "mxid")
        let mxid = try parameters.string("mxid", maxBytes: 255)
        guard Matrix.isUserID(mxid) else { throw Matrix.invalid("mxid must be a Matrix user ID (@user:server).") }
        if let account, account.userID != mxid {
            throw Matrix.error(.forbidden, "M_UNAUTHORIZED", "This user is prohibited from changing this mxid")
        }
        let session = try await sessions.validatedSession(sid: try parameters.sid(), secret: try parameters.clientSecret(), logger: context.logger)
        let now = Matrix.now()
        let pepper = try await store.pepper(logger: context.logger)
        let hash = Self.lookupHash(address: session.address, medium: session.medium, pepper: pepper)
        let settings = self.settings
        let body = try await store.bind(
            medium: session.medium, address: session.address, mxid: mxid, lookupHash: hash, ts: now, notAfter: now + Self.validity,
            homeserver: Matrix.serverName(ofUserID: mxid), logger: context.logger
        ) { delivered in
            // Invitations waiting for this address go to the new owner, signed for them.
            let invites: [JSONValue] = delivered.map { invite in
                let signedPart = Matrix.sign(
                    ["mxid": .string(mxid), "token": .string(invite.token)], server: settings.serverName, key: settings.signingKey.key)
                return [
                    "medium": .string(session.medium), "address": .string(session.address), "mxid": .string(mxid),
                    "room_id": .string(invite.roomID), "sender": .string(invite.sender), "signed": .object(signedPart),
                ]
            }
            var body = Self.object(medium: session.medium, address: session.address, mxid: mxid, ts: now, notBefore: now, notAfter: now + Self.validity)
            if !invites.isEmpty { body["invites"] = .array(invites) }
            // The user's homeserver hears of the binding (and its invites) as sydent tells
            // it: `3pid/onbind`, sent from the outbox after this commits.
            return CanonicalJSON.bytes(.object(Matrix.sign(body, server: settings.serverName, key: settings.signingKey.key)))
        }
        context.logger.info("association bound", metadata: ["medium": "\(session.medium)", "sid": "\(session.id)"])
        return Response.json(bytes: body)
    }

    /// `POST …/3pid/unbind`, proven by the validated session (`sid`, `client_secret`)
    /// of the same address.
    func unbind(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("mxid", "threepid")
        let mxid = try parameters.string("mxid", maxBytes: 255)
        guard case .object(let threepid)? = parameters.values["threepid"], case .string(let medium)? = threepid["medium"],
            case .string(let address)? = threepid["address"]
        else { throw Matrix.invalid("threepid must be an object with medium and address.") }
        guard parameters.values["sid"] != nil, parameters.values["client_secret"] != nil else {
            // The other proof: the user's homeserver signed the request (X-Matrix), as
            // Synapse does when a user removes the address from their account.
            guard ServerRequestVerifier.isSigned(request) else {
                throw Matrix.error(.forbidden, "M_FORBIDDEN", "Unbinding needs the sid and client_secret of a validated session, or the homeserver's signature")
            }
            let origin = try await serverRequests.origin(of: request, content: .object(parameters.values), logger: context.logger)
            guard Matrix.serverName(ofUserID: mxid) == origin else {
                throw Matrix.error(.forbidden, "M_FORBIDDEN", "Origin server name does not match mxid")
            }
            try await remove(medium: medium, address: Self.fold(medium: medium, address: address), mxid: mxid, logger: context.logger)
            context.logger.info("association removed by the homeserver", metadata: ["medium": "\(medium)", "origin": "\(origin)"])
            return Response.json([:])
        }
        let session = try await sessions.validatedSession(sid: try parameters.sid(), secret: try parameters.clientSecret(), logger: context.logger)
        let folded = Self.fold(medium: medium, address: address)
        guard session.medium == medium, session.address == folded else {
            throw Matrix.error(.forbidden, "M_FORBIDDEN", "This session did not validate that address")
        }
        if let account, account.userID != mxid {
            throw Matrix.error(.forbidden, "M_UNAUTHORIZED", "This user is prohibited from changing this mxid")
        }
        try await remove(medium: medium, address: folded, mxid: mxid, logger: context.logger)
        context.logger.info("association removed", metadata: ["medium": "\(medium)", "sid": "\(session.id)"])
        return Response.json([:])
    }

    private func remove(medium: String, address: String, mxid: String, logger: Logger) async throws {
        guard try await store.remove(medium: medium, address: address, mxid: mxid, logger: logger) else { throw Matrix.error(.notFound, "M_NOT_FOUND", "No binding of that address to that mxid") }
    }

    // MARK: Lookups

    /// `GET /api/v1/lookup?medium=&address=`: the signed association, or `{}`.
    func lookup(_ request: Request, context: SuiteContext) async throws -> Response {
        let query = MatrixParameters.query(request)
        try query.require("medium", "address")
        let medium = try query.string("medium", maxBytes: 16)
        let address = Self.fold(medium: medium, address: try query.string("address", maxBytes: 512))
        let key = AssociationIndex.Key(medium: medium, address: address)
        let found: LookupBatcher.Found?
        if let index, let answer = try await index.read(logger: context.logger, { contents -> LookupBatcher.Found? in
            contents.table.entry(key).map { ($0.mxid, $0.ts, $0.notBefore, $0.notAfter) }
        }) {
            found = answer
        } else {
            found = try await batcher.lookup(medium: medium, address: address, logger: context.logger)
        }
        guard let (mxid, ts, notBefore, notAfter) = found else { return Response.json([:]) }
        return Response.json(bytes: signed.answer(for: key, mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter) {
            signedAssociation(medium: medium, address: address, mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter)
        })
    }

    private func signedAssociation(medium: String, address: String, mxid: String, ts: Int64, notBefore: Int64, notAfter: Int64) -> [UInt8] {
        let object = Self.object(medium: medium, address: address, mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter)
        return Matrix.signedBytes(object, server: settings.serverName, key: settings.signingKey.key)
    }

    /// The mxid of each bound (medium, address) pair among `keys`: from the index when it
    /// is loaded, else one PostgreSQL statement.
    private func mxids(
        of keys: [AssociationIndex.Key], known: AssociationIndex.Generation? = nil, logger: Logger
    ) async throws -> [AssociationIndex.Key: String] {
        if let index, let found = try await index.read(logger: logger, known: known, { contents -> [AssociationIndex.Key: String] in
            var found: [AssociationIndex.Key: String] = [:]
            for key in keys { if let entry = contents.table.entry(key) { found[key] = entry.mxid } }
            return found
        }) {
            return found
        }
        return try await store.mxids(of: keys, logger: logger)
    }

    /// Limits on lookups in one call.
    static let maxBulk = 10_000

    /// `POST /api/v1/bulk_lookup`: `{"threepids": [[medium, address], …]}` →
    /// `{"threepids": [[medium, address, mxid], …]}` for the bound ones.
    func bulkLookup(_ request: Request, context: SuiteContext) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("threepids")
        guard case .array(let list)? = parameters.values["threepids"], list.count <= Self.maxBulk else {
            throw Matrix.invalid("threepids must be a list of at most \(Self.maxBulk) [medium, address] pairs.")
        }
        var keys: [AssociationIndex.Key] = [], originals: [AssociationIndex.Key: String] = [:]
        for item in list {
            guard case .array(let pair) = item, pair.count == 2, case .string(let medium) = pair[0], case .string(let address) = pair[1] else {
                throw Matrix.invalid("threepids must be a list of [medium, address] pairs.")
            }
            let key = AssociationIndex.Key(medium: medium, address: Self.fold(medium: medium, address: address))
            if originals.updateValue(address, forKey: key) == nil { keys.append(key) }
        }
        let bound = try await mxids(of: keys, logger: context.logger)
        var found: [JSONValue] = []
        for key in keys {
            if let mxid = bound[key] { found.append([.string(key.medium), .string(originals[key] ?? key.address), .string(mxid)]) }
        }
        return Response.json(["threepids": .array(found)])
    }

    /// `GET /v2/hash_details`.
    func hashDetails(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        Response.json(["algorithms": ["none", "sha256"], "lookup_pepper": .string(try await store.pepper(logger: context.logger))])
    }

    /// `POST /v2/lookup`: `{"addresses", "algorithm", "pepper"}` → `{"mappings": {…}}`.
    func hashedLookup(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("addresses", "algorithm", "pepper")
        let algorithm = try parameters.string("algorithm", maxBytes: 32)
        let given = try parameters.string("pepper", maxBytes: 256)
        guard case .array(let list)? = parameters.values["addresses"], list.count <= Self.maxBulk else {
            throw Matrix.invalid("addresses must be a list of at most \(Self.maxBulk) strings.")
        }
        var addresses: [String] = []
        addresses.reserveCapacity(list.count)
        for item in list {
            guard case .string(let text) = item, text.utf8.count <= 512 else { throw Matrix.invalid("addresses must be strings.") }
            addresses.append(text)
        }
        let pepper: String
        if let known = account?.pepper { pepper = known } else { pepper = try await store.pepper(logger: context.logger) }
        guard constantTimeEquals(given.utf8, pepper.utf8) else {
            throw Matrix.error(.badRequest, "M_INVALID_PEPPER", "Unknown or invalid pepper - has it been rotated?")
                .with("algorithm", .string(algorithm)).with("lookup_pepper", .string(pepper))
        }
        switch algorithm {
        case "sha256":
            // Decoded outside the shared lock.
            let keys = index == nil ? [] : addresses.map(AssociationIndex.HashKey.init)
            if let index, let mappings = try await index.read(logger: context.logger, known: account?.generation, { contents -> [UInt8] in
                let table = contents.table
                var out: [UInt8] = []
                out.reserveCapacity(16 + addresses.count * 80 + table.warm(keys))
                out.append(contentsOf: #"{"mappings":{"#.utf8)
                var first = true, answered = AnsweredSlots(expected: keys.count)
                for case let key? in keys {
                    guard let ref = table.ref(of: key), answered.insert(ref) else { continue }
                    // The key's text is what was asked: a key has one text (canonical
                    // base64url, nothing to escape), so it is written from the key.
                    key.appendMember(prefix: !first, to: &out)
                    first = false
                    table.appendMXID(ref, to: &out)
                }
                out.append(contentsOf: "}}".utf8)
                return out
            }) {
                return Response.json(bytes: mappings)
            }
            // PostgreSQL writes the mappings object itself: one row instead of one per match.
            let mappings = try await store.mappings(ofHashes: addresses, logger: context.logger)
            return Response.json(bytes: Array(#"{"mappings":"#.utf8) + Array(mappings.utf8) + [UInt8(ascii: "}")])
        case "none":
            // "address medium", the address possibly containing spaces.
            var keys: [AssociationIndex.Key] = [], asked: [AssociationIndex.Key: String] = [:]
            for text in addresses {
                guard let space = text.lastIndex(of: " ") else { throw Matrix.invalid("With algorithm none, each address is \"address medium\".") }
                let medium = String(text[text.index(after: space)...])
                let key = AssociationIndex.Key(medium: medium, address: Self.fold(medium: medium, address: String(text[..<space])))
                if asked.updateValue(text, forKey: key) == nil { keys.append(key) }
            }
            var mappings: [String: JSONValue] = [:]
            for (key, mxid) in try await mxids(of: keys, known: account?.generation, logger: context.logger) {
                if let text = asked[key] { mappings[text] = .string(mxid) }
            }
            return Response.json(["mappings": .object(mappings)])
        default:
            throw Matrix.error(.badRequest, "M_INVALID_PARAM", "Unsupported lookup algorithm \(algorithm.prefix(32))")
        }
    }
}

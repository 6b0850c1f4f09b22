import Crypto
import Foundation
import SuiteCore
import Testing

@testable import SuiteSigning

/// Tokens made by hand, so each test can build exactly the attack it names.
struct TokenForge {
    let key: Ed25519SigningKey
    var issuer = "meet-rooms"
    var audience = "user-identity"
    var now = Int(Date().timeIntervalSince1970)

    func claims(_ changes: (inout [String: JSONValue]) -> Void = { _ in }) -> [String: JSONValue] {
        var claims: [String: JSONValue] = [
            "iss": .string(issuer), "aud": .string(audience), "sub": .string("service:\(issuer)"),
            "scope": "users:read", "iat": .number(Double(now)), "exp": .number(Double(now + 60)), "jti": "j1",
        ]
        changes(&claims)
        return claims
    }

    func encode(_ value: JSONValue) -> String { Base64URL.encode(CanonicalJSON.bytes(value)) }

    func signed(header: [String: JSONValue]? = nil, claims: [String: JSONValue]? = nil) throws -> String {
        let header = header ?? ["alg": "EdDSA", "typ": "JWT", "kid": .string(key.kid)]
        let input = encode(.object(header)) + "." + encode(.object(claims ?? self.claims()))
        let signature = try key.key.signature(for: Array(input.utf8))
        return input + "." + Base64URL.encode(signature)
    }
}

@Suite struct ServiceTokenVerifierTests {
    let key = Ed25519SigningKey.generate()
    let otherKey = Ed25519SigningKey.generate()

    func verifier(audience: String = "user-identity", fetch: @escaping ServiceTokenVerifier.JWKSFetcher = { _ in throw CancellationError() })
        -> ServiceTokenVerifier
    {
        ServiceTokenVerifier(
            audience: audience,
            trust: ServiceTrust(issuers: [
                "meet-rooms": .keys([key.kid: key.publicKey]),
                "oidc-vault": .keys([otherKey.kid: otherKey.publicKey]),
            ]),
            fetchJWKS: fetch)
    }

    func expectRejected(_ token: String, verifier: ServiceTokenVerifier? = nil, because reason: String) async {
        let error = await #expect(throws: AppError.self) { try await (verifier ?? self.verifier()).verify(token) }
        #expect(error?.status == .unauthorized)
        #expect(error?.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
        #expect(error?.detail?.contains(reason) == true, "detail was: \(error?.detail ?? "nil")")
    }

    @Test func aTokenFromTheSignerIsAccepted() async throws {
        let signer = await ServiceTokenSigner(issuer: "meet-rooms", signingKey: key)
        let token = try await signer.token(audience: "user-identity", scope: "users:read invites:write")
        let caller = try await verifier().verify(token)
        #expect(caller.service == "meet-rooms")
        #expect(caller.scopes == ["users:read", "invites:write"])
        #expect(caller.has(scope: "users:read"))
    }

    @Test func algNoneIsRefused() async throws {
        let forge = TokenForge(key: key)
        let token = forge.encode(["alg": "none", "typ": "JWT", "kid": .string(key.kid)]) + "." + forge.encode(.object(forge.claims())) + "."
        await expectRejected(token, because: "EdDSA")
    }

    @Test func hs256SignedWithThePublicKeyIsRefused() async throws {
        let forge = TokenForge(key: key)
        let input = forge.encode(["alg": "HS256", "typ": "JWT", "kid": .string(key.kid)]) + "." + forge.encode(.object(forge.claims()))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: key.publicKey.rawRepresentation))
        await expectRejected(input + "." + Base64URL.encode(Array(mac)), because: "EdDSA")
    }

    @Test func rs256HeaderIsRefusedBeforeAnyKeyIsUsed() async throws {
        let token = try TokenForge(key: key).signed(header: ["alg": "RS256", "kid": .string(key.kid)])
        await expectRejected(token, because: "EdDSA")
    }

    @Test func expiredTokensAreRefused() async throws {
        var forge = TokenForge(key: key)
        forge.now -= 120
        await expectRejected(try forge.signed(), because: "expired")
    }

    @Test func tokensWithinTheLeewayAreStillAccepted() async throws {
        var forge = TokenForge(key: key)
        forge.now -= 63  // expired 3 s ago, leeway is 5 s
        _ = try await verifier().verify(try forge.signed())
    }

    @Test func tokensFromTheFutureAreRefused() async throws {
        var forge = TokenForge(key: key)
        forge.now += 120
        await expectRejected(try forge.signed(), because: "not valid yet")
    }

    @Test func notBeforeInTheFutureIsRefused() async throws {
        let forge = TokenForge(key: key)
        let token = try forge.signed(claims: forge.claims { $0["nbf"] = .number(Double(forge.now + 60)) })
        await expectRejected(token, because: "not valid yet")
    }

    @Test func anotherAudienceIsRefused() async throws {
        var forge = TokenForge(key: key)
        forge.audience = "oidc-vault"
        await expectRejected(try forge.signed(), because: "another service")
    }

    @Test func anUntrustedIssuerIsRefused() async throws {
        var forge = TokenForge(key: key)
        forge.issuer = "mallory"
        await expectRejected(try forge.signed(), because: "not trusted")
    }

    @Test func anUnknownKidIsRefusedEvenWhenTheSignatureIsGood() async throws {
        let stranger = Ed25519SigningKey.generate(kid: "stranger")
        await expectRejected(try TokenForge(key: stranger).signed(), because: "does not publish")
    }

    @Test func aMissingKidIsRefused() async throws {
        let token = try TokenForge(key: key).signed(header: ["alg": "EdDSA", "typ": "JWT"])
        await expectRejected(token, because: "names no key")
    }

    @Test func aKeyOfOnePeerCannotVouchForAnother() async throws {
        // Signed by oidc-vault's key, claiming to be meet-rooms.
        var forge = TokenForge(key: otherKey)
        forge.issuer = "meet-rooms"
        await expectRejected(try forge.signed(), because: "does not publish")
    }

    @Test func aTamperedPayloadIsRefused() async throws {
        let forge = TokenForge(key: key)
        let token = try forge.signed()
        let parts = token.split(separator: ".")
        let widened = forge.encode(.object(forge.claims { $0["scope"] = "users:read users:write admin" }))
        await expectRejected("\(parts[0]).\(widened).\(parts[2])", because: "signature")
    }

    @Test(arguments: [1, 2, 10])
    func aTruncatedTokenIsRefused(cut: Int) async throws {
        let token = try TokenForge(key: key).signed()
        let error = await #expect(throws: AppError.self) { try await verifier().verify(String(token.dropLast(cut))) }
        #expect(error?.status == .unauthorized)
    }

    @Test(arguments: ["", "abc", "a.b", "a.b.c.d", "....", "eyJhbGciOiJFZERTQSJ9.e30."])
    func garbageIsRefused(token: String) async {
        let error = await #expect(throws: AppError.self) { try await verifier().verify(token) }
        #expect(error?.status == .unauthorized)
    }

    @Test func aSubjectThatDoesNotMatchTheIssuerIsRefused() async throws {
        let forge = TokenForge(key: key)
        await expectRejected(try forge.signed(claims: forge.claims { $0["sub"] = "service:oidc-vault" }), because: "subject")
    }

    @Test func longLivedTokensAreRefused() async throws {
        let forge = TokenForge(key: key)
        await expectRejected(try forge.signed(claims: forge.claims { $0["exp"] = .number(Double(forge.now + 3600)) }), because: "longer")
    }

    @Test func missingClaimsAreRefused() async throws {
        let forge = TokenForge(key: key)
        await expectRejected(try forge.signed(claims: forge.claims { $0["aud"] = nil }), because: "claims")
    }

    @Test func aRememberedTokenStillExpires() async throws {
        let verifier = verifier()
        let forge = TokenForge(key: key)
        let token = try forge.signed()
        _ = try await verifier.verify(token)
        let later = Date().addingTimeInterval(120)
        let error = await #expect(throws: AppError.self) { try await verifier.verify(token, now: later) }
        #expect(error?.detail?.contains("expired") == true)
    }

    @Test func anIssuerWhoseJWKSCannotBeFetchedIsRefusedNotCrashed() async throws {
        let key = Ed25519SigningKey.generate()
        let verifier = ServiceTokenVerifier(
            audience: "user-identity", trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: "http://127.0.0.1:1/internal/jwks.json")]),
            fetchJWKS: { _ in throw CancellationError() })
        await expectRejected(try TokenForge(key: key).signed(), verifier: verifier, because: "does not publish")
    }

    @Test func jwksIssuersAreFetchedAndRefetchedForANewKid() async throws {
        let first = Ed25519SigningKey.generate()
        let second = Ed25519SigningKey.generate()
        let published = Published(JWKS(keys: [JWKS.publicJWK(ofEd25519: first.publicKey, kid: first.kid)]))
        let verifier = ServiceTokenVerifier(
            audience: "user-identity", trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: "http://peer/internal/jwks.json")]),
            fetchJWKS: { _ in try await published.fetch() })

        _ = try await verifier.verify(try TokenForge(key: first).signed())
        #expect(await published.fetches == 1)

        // The peer rotates; the first token with the new kid fetches the set again.
        await published.set(JWKS(keys: [second, first].map { JWKS.publicJWK(ofEd25519: $0.publicKey, kid: $0.kid) }))
        _ = try await verifier.verify(try TokenForge(key: second).signed(), now: Date().addingTimeInterval(11))
        #expect(await published.fetches == 2)

        // Made-up kids do not turn into a fetch per request.
        for index in 0..<5 {
            let stranger = Ed25519SigningKey.generate(kid: "made-up-\(index)")
            _ = try? await verifier.verify(try TokenForge(key: stranger).signed(), now: Date().addingTimeInterval(12))
        }
        #expect(await published.fetches == 2)
        // Once the quiet period is over, an unknown kid may look again.
        _ = try? await verifier.verify(try TokenForge(key: .generate(kid: "later")).signed(), now: Date().addingTimeInterval(25))
        #expect(await published.fetches == 3)
    }

    @Test func concurrentFirstTokensShareOneFetchAndAllPass() async throws {
        let published = Published(JWKS(keys: [JWKS.publicJWK(ofEd25519: key.publicKey, kid: key.kid)]), delay: .milliseconds(200))
        let verifier = ServiceTokenVerifier(
            audience: "user-identity", trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: "http://peer/internal/jwks.json")]),
            fetchJWKS: { _ in try await published.fetch() })
        let token = try TokenForge(key: key).signed()
        let passed = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                let token = index == 0 ? token : try! TokenForge(key: key, now: Int(Date().timeIntervalSince1970) - index).signed()
                group.addTask { (try? await verifier.verify(token)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(passed == 8)
        #expect(await published.fetches == 1)
    }

    @Test func aFailedFetchIsTriedAgainAfterASecondNotTen() async throws {
        let published = Published(JWKS(keys: [JWKS.publicJWK(ofEd25519: key.publicKey, kid: key.kid)]), failures: 1)
        let verifier = ServiceTokenVerifier(
            audience: "user-identity", trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: "http://peer/internal/jwks.json")]),
            fetchJWKS: { _ in try await published.fetch() })
        let now = Date()
        await expectRejected(try TokenForge(key: key).signed(), verifier: verifier, because: "does not publish")
        _ = try? await verifier.verify(try TokenForge(key: key).signed(), now: now.addingTimeInterval(0.5))
        #expect(await published.fetches == 1)
        let caller = try await verifier.verify(try TokenForge(key: key).signed(), now: now.addingTimeInterval(1.5))
        #expect(caller.service == "meet-rooms")
        #expect(await published.fetches == 2)
    }
}

actor Published {
    var jwks: JWKS
    var fetches = 0
    let delay: Duration
    var failures: Int

    init(_ jwks: JWKS, delay: Duration = .zero, failures: Int = 0) {
        self.jwks = jwks
        self.delay = delay
        self.failures = failures
    }

    func set(_ jwks: JWKS) { self.jwks = jwks }

    func fetch() async throws -> JWKS {
        fetches += 1
        if delay > .zero { try await Task.sleep(for: delay) }
        if failures > 0 {
            failures -= 1
            throw CancellationError()
        }
        return jwks
    }
}

@Suite struct ServiceTokenSignerTests {
    @Test func tokensCarryTheClaimsAndAreReusedWhileFresh() async throws {
        let signer = await ServiceTokenSigner(issuer: "oidc-vault", signingKey: .generate())
        let now = Date()
        let first = try await signer.token(audience: "user-identity", scope: "users:read", now: now)
        let again = try await signer.token(audience: "user-identity", scope: "users:read", now: now.addingTimeInterval(10))
        let renewed = try await signer.token(audience: "user-identity", scope: "users:read", now: now.addingTimeInterval(31))
        let other = try await signer.token(audience: "meet-rooms", scope: "users:read", now: now)
        #expect(first == again)
        #expect(first != renewed)
        #expect(first != other)

        let payload = try #require(Base64URL.decode(first.split(separator: ".")[1]))
        let claims = try JSONDecoder().decode(ServiceTokenClaims.self, from: payload)
        #expect(claims.iss == "oidc-vault")
        #expect(claims.sub == "service:oidc-vault")
        #expect(claims.aud == "user-identity")
        #expect(claims.scope == "users:read")
        #expect(claims.exp - claims.iat == 60)
        #expect(!claims.jti.isEmpty)

        let header = try #require(Base64URL.decode(first.split(separator: ".")[0]))
        let fields = try JSONDecoder().decode([String: String].self, from: header)
        #expect(fields["alg"] == "EdDSA")
        #expect(fields["kid"] == signer.signingKey.kid)
    }

    @Test func theJWKSPublishesOnlyThePublicKey() async throws {
        let key = Ed25519SigningKey.generate()
        let signer = await ServiceTokenSigner(issuer: "meet-rooms", signingKey: key)
        let json = String(decoding: try JSONEncoder().encode(signer.jwks), as: UTF8.self)
        #expect(!json.contains("\"d\""))
        #expect(signer.jwks.ed25519Keys()[key.kid]?.rawRepresentation == key.publicKey.rawRepresentation)
    }
}

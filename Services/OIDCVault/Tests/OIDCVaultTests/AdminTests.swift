import Foundation
import NIOHTTP1
import PostgresNIO
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing
import VaultZKP

@testable import OIDCVault

@Suite struct AdminTests {
    /// A key of `tenant` with `scopes`, made by the operator.
    func key(_ vault: VaultFixture, tenant: String, scopes: [String]) async throws -> String {
        let response = try await vault.call(.POST, "/admin/api-keys", json: [
            "name": "k", "scopes": .array(scopes.map { .string($0) }), "tenant_id": .string(tenant),
        ])
        #expect(response.status == 201, "\(response.text)")
        return try #require(response.json?["api_key"]?.stringValue)
    }

    @Test func everyAdminRouteRefusesNoKeyAKeyWithoutTheScopeAndAnotherTenantsKey() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            try await vault.tenant("other")
            _ = try await vault.client("web", tenant: "acme")
            let user = try await vault.call(.POST, "/tenants/acme/users", json: ["user_id": "u1", "username": "u1", "email": "u1@example.com", "tenant_id": "acme"])
            #expect(user.status == 201)
            let weak = try await key(vault, tenant: "acme", scopes: [])
            let foreign = try await key(vault, tenant: "other", scopes: AdminScope.allCases.map(\.rawValue))
            var routes: [(HTTPMethod, String, JSONValue?)] = []
            routes.append((.GET, "/tenants/acme", nil))
            routes.append((.PUT, "/tenants/acme", ["display_name": "Acme"]))
            routes.append((.GET, "/clients?tenant_id=acme", nil))
            routes.append((.POST, "/clients", ["client_id": "c2", "name": "c2", "tenant_id": "acme"]))
            routes.append((.PUT, "/clients/web", ["client_id": "web", "name": "w", "tenant_id": "acme"]))
            routes.append((.GET, "/tenants/acme/users", nil))
            routes.append((.POST, "/tenants/acme/users", ["user_id": "u2", "username": "u2", "email": "u2@example.com", "tenant_id": "acme"]))
            routes.append((.GET, "/tenants/acme/users/u1", nil))
            routes.append((.PUT, "/tenants/acme/users/u1", ["user_id": "u1", "username": "u1", "email": "u1@example.com", "tenant_id": "acme"]))
            routes.append((.GET, "/tenants/acme/users/by-username/u1", nil))
            routes.append((.POST, "/tenants/acme/users/batch", ["users": []]))
            routes.append((.POST, "/tenants/acme/users/batch-delete", ["users_ids": []]))
            routes.append((.GET, "/tenants/acme/blocked-ips", nil))
            routes.append((.GET, "/tenants/acme/blocked-users", nil))
            routes.append((.DELETE, "/tenants/acme/blocked-ips/1.2.3.4", nil))
            routes.append((.DELETE, "/tenants/acme/blocked-users/u1", nil))
            routes.append((.GET, "/admin/api-keys?tenant_id=acme", nil))
            routes.append((.POST, "/admin/api-keys", ["name": "x", "scopes": [], "tenant_id": "acme"]))
            for (method, path, body) in routes {
                let none = try await vault.call(method, path, json: body, as: .nobody)
                #expect(none.status == 401, "\(method) \(path) without a key: \(none.status)")
                #expect(none.json?["detail"] == "Not authenticated")
                let garbage = try await vault.call(method, path, json: body, as: .key("vk_nope"))
                #expect(garbage.status == 401, "\(method) \(path) with an unknown key")
                let lacking = try await vault.call(method, path, json: body, as: .key(weak))
                #expect(lacking.status == 403, "\(method) \(path) with a key lacking the scope: \(lacking.status) \(lacking.text)")
                let elsewhere = try await vault.call(method, path, json: body, as: .key(foreign))
                #expect(elsewhere.status == 403, "\(method) \(path) with another tenant's key: \(elsewhere.status)")
            }
            // Tenant creation is the operator's (or the default tenant's).
            #expect(try await vault.call(.POST, "/tenants", json: ["tenant_id": "x"], as: .key(foreign)).status == 403)
            #expect(try await vault.call(.GET, "/tenants", as: .nobody).status == 401)
            let listed = try await vault.call(.GET, "/tenants", as: .key(foreign))
            #expect(listed.json?["tenants"]?.arrayValue?.map { $0["tenant_id"] } == ["other"])
        }
    }

    @Test func tenantsKeepEverySeedFieldWithItsDefault() async throws {
        try await VaultFixture.run { vault in
            #expect(try await vault.call(.POST, "/tenants", json: ["tenant_id": "acme"]).status == 201)
            let tenant = try #require(try await vault.call(.GET, "/tenants/acme").json)
            #expect(tenant["use_pin"] == true)
            #expect(tenant["pin_size"] == 6)
            #expect(tenant["patter_size"] == 3)
            #expect(tenant["has_username_and_email"] == true)
            #expect(tenant["login_order"] == ["PIN"])
            #expect(tenant["block_config"] == [
                "ip_attempts_limit": 5, "ip_attempts_reset_minutes": 10080, "user_attempts_limit": 15, "user_timeframe_seconds": 300,
                "initial_block_seconds": 60, "max_block_time_minutes": 2880,
            ])
            #expect(tenant["liveness_config"] == .null)
            #expect(try await vault.call(.POST, "/tenants", json: ["tenant_id": "acme"]).status == 409)
            let bad = try await vault.call(.POST, "/tenants", json: ["tenant_id": "a b", "pin_size": "six", "login_order": ["FACE"]])
            #expect(bad.status == 422)
            let locations = Set((bad.json?["detail"]?.arrayValue ?? []).compactMap { $0["loc"]?.arrayValue?.last?.stringValue })
            #expect(locations == ["tenant_id", "pin_size", "login_order"])
            let update = try await vault.call(.PUT, "/tenants/acme", json: [
                "display_name": "Acme Inc", "use_pin": false, "block_config": ["ip_attempts_limit": 9], "liveness_config": ["number_steps_min": 2],
            ])
            #expect(update.status == 200)
            let updated = try #require(try await vault.call(.GET, "/tenants/acme").json)
            #expect(updated["display_name"] == "Acme Inc")
            #expect(updated["use_pin"] == false)
            #expect(updated["block_config"]?["ip_attempts_limit"] == 9)
            #expect(updated["block_config"]?["user_attempts_limit"] == 15)
            #expect(updated["liveness_config"]?["number_steps_min"] == 2)
            #expect(try await vault.call(.PUT, "/tenants/acme", json: ["use_pin": true]).status == 422)
            #expect(try await vault.call(.GET, "/tenants/nope").status == 404)
        }
    }

    @Test func clientsShowTheirSecretOnceAndLoginPagesNever() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme", algorithm: "RS256")
            let secret = try #require(web.secret)
            let rows = try await vault.database.query("SELECT secret_hash FROM clients WHERE client_id = 'web'", logger: .init(label: "t"))
            for try await hash in rows.decode(ByteBuffer.self) { #expect(Array(buffer: hash) == Client.hash(secret)) }
            let list = try await vault.call(.GET, "/clients?tenant_id=acme")
            let listed = try #require(list.json?["clients"]?.arrayValue?.first)
            #expect(listed["client_secret"] == .null)
            #expect(listed["sing_alg"] == "RS256")
            #expect(listed["client_type"] == "confidential")
            #expect(listed["token_endpoint_auth_method"] == "client_secret_post")
            #expect(try await vault.call(.GET, "/clients?tenant_id=acme&skip=1").json?["clients"] == [])
            let publicView = try await vault.call(.GET, "/clients/public?client_id=web&tenant_id=acme", as: .nobody)
            #expect(publicView.status == 200)
            #expect(publicView.json?["client_secret"] == nil)
            #expect(publicView.json?["redirect_uris"] == nil)
            #expect(publicView.json?["tenant_name"] == "Acme")
            #expect(publicView.json?["has_profile"] == true)
            let withTenant = try await vault.call(.GET, "/clients/public/tenant?client_id=web&tenant_id=acme", as: .nobody)
            #expect(withTenant.json?["tenant"]?["pin_size"] == 6)
            #expect(withTenant.json?["tenant"]?["block_config"] == nil)
            #expect(!withTenant.text.contains(secret))
            #expect(try await vault.call(.GET, "/clients/public?client_id=nope&tenant_id=acme", as: .nobody).status == 404)
            #expect(try await vault.call(.GET, "/clients/public?tenant_id=acme", as: .nobody).status == 422)
            let duplicate = try await vault.call(.POST, "/clients", json: ["client_id": "web", "name": "again", "tenant_id": "acme"])
            #expect(duplicate.status == 409)
            let invalid = try await vault.call(.POST, "/clients", json: [
                "client_id": "bad", "name": "bad", "tenant_id": "acme", "redirect_uris": ["not a url", "https://x.example/#frag"], "sing_alg": "HS256",
            ])
            #expect(invalid.status == 422)
            #expect(try await vault.call(.POST, "/clients", json: ["client_id": "x", "name": "x", "tenant_id": "nope"]).status == 404)
        }
    }

    @Test func usersAreListedFilteredSortedAndBatched() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            for (index, name) in ["carol", "alice", "bob"].enumerated() {
                let created = try await vault.call(.POST, "/tenants/acme/users", json: [
                    "user_id": .string("id-\(index)"), "username": .string(name), "email": .string("\(name)@example.com"), "tenant_id": "acme",
                    "roles": ["staff"], "locale": "en", "external_id": .string("ext-\(index)"),
                ])
                #expect(created.status == 201)
                #expect(created.json?["roles"] == ["staff"])
            }
            let sorted = try await vault.call(.GET, "/tenants/acme/users?sort_by=username&sort_direction=1&limit=2")
            #expect(sorted.json?["data"]?.arrayValue?.map { $0["username"] } == ["alice", "bob"])
            #expect(sorted.json?["has_next"] == true)
            #expect(sorted.json?["total_count"] == 3)
            let page2 = try await vault.call(.GET, "/tenants/acme/users?sort_by=username&sort_direction=1&limit=2&offset=2")
            #expect(page2.json?["data"]?.arrayValue?.map { $0["username"] } == ["carol"])
            #expect(page2.json?["has_next"] == false)
            let filtered = try await vault.call(.GET, "/tenants/acme/users?email=BOB%40")
            #expect(filtered.json?["data"]?.arrayValue?.map { $0["username"] } == ["bob"])
            let wildcard = try await vault.call(.GET, "/tenants/acme/users?username=%25")
            #expect(wildcard.json?["total_count"] == 0)
            for query in ["limit=0", "limit=501", "sort_by=password", "sort_direction=2", "offset=-1", "username=" + String(repeating: "a", count: 129)] {
                let refused = try await vault.call(.GET, "/tenants/acme/users?" + query)
                #expect(refused.status == 422, "\(query)")
                #expect(refused.json?["detail"]?.arrayValue?.first?["loc"]?.arrayValue?.first == "query")
            }
            #expect(try await vault.call(.GET, "/tenants/acme/users/by-username/ALICE").json?["user_id"] == "id-1")
            #expect(try await vault.call(.GET, "/tenants/acme/users/nobody").status == 404)
            let taken = try await vault.call(.POST, "/tenants/acme/users", json: ["user_id": "x", "username": "Alice", "email": "x@example.com", "tenant_id": "acme"])
            #expect(taken.status == 409)
            let emailTaken = try await vault.call(.POST, "/tenants/acme/users", json: ["user_id": "x", "username": "xavier", "email": "ALICE@example.com", "tenant_id": "acme"])
            #expect(emailTaken.json?["detail"] == "Email already exists")

            let batch = try await vault.call(.POST, "/tenants/acme/users/batch", json: ["users": [
                ["user_id": "b1", "username": "dave", "email": "dave@example.com", "tenant_id": "acme"],
                ["user_id": "b2", "username": "dave", "email": "dave2@example.com", "tenant_id": "acme"],
                ["user_id": "b3", "username": "alice", "email": "alice3@example.com", "tenant_id": "acme"],
                ["user_id": "b5", "username": "erin", "email": "carol@example.com", "tenant_id": "acme"],
            ]])
            #expect(batch.status == 201)
            #expect(batch.json?["success_created_count"] == 1)
            #expect(batch.json?["duplicate_usernames"] == ["dave", "alice"])
            #expect(batch.json?["fail_create_usernames"] == ["erin"])
            // A malformed entry is a 422 that names it, and nothing of the batch is made.
            let malformed = try await vault.call(.POST, "/tenants/acme/users/batch", json: ["users": [
                ["user_id": "m1", "username": "mallory", "email": "mallory@example.com", "tenant_id": "acme"],
                ["user_id": "m2", "username": "bad name", "email": "e@example.com", "tenant_id": "acme", "roles": 5],
            ]])
            #expect(malformed.status == 422)
            #expect(malformed.json?["detail"]?.arrayValue?.first?["loc"] == ["body", "users", 1, "username"])
            #expect(try await vault.call(.GET, "/tenants/acme/users/by-username/mallory").status == 404)

            let update = try await vault.call(.PUT, "/tenants/acme/users/b1", json: [
                "user_id": "b1", "username": "david", "email": "david@example.com", "tenant_id": "acme", "is_disabled": true, "roles": ["admin"],
            ])
            #expect(update.status == 200)
            #expect(update.json?["username"] == "david")
            #expect(update.json?["is_disabled"] == true)
            #expect(try await vault.call(.PUT, "/tenants/acme/users/b1", json: ["user_id": "other", "username": "d", "email": "d@example.com", "tenant_id": "acme"]).status == 422)

            #expect(try await vault.call(.POST, "/tenants/acme/users/batch-delete", json: ["users_ids": ["b1", "id-0"]]).status == 201)
            #expect(try await vault.call(.GET, "/tenants/acme/users").json?["total_count"] == 2)
        }
    }

    @Test func usersKeepTheirOwnKeysAndAdminsSeeAll() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme")
            let photo = TestImages.scene(seed: 42)
            #expect(try await vault.register(tenant: "acme", username: "root", email: "root@example.com", image: photo).status == 201)
            #expect(try await vault.register(tenant: "acme", username: "joe", email: "joe@example.com", image: TestImages.scene(seed: 9)).status == 201)
            let rootID = try #require(try await vault.call(.GET, "/tenants/acme/users/by-username/root").json?["user_id"]?.stringValue)
            _ = try await vault.call(.PUT, "/tenants/acme/users/\(rootID)", json: [
                "user_id": .string(rootID), "username": "root", "email": "root@example.com", "tenant_id": "acme", "roles": ["admin"],
            ])
            let rootToken = try #require(try await vault.codeFlow(web, username: "root", image: photo)["access_token"]?.stringValue)
            let joeToken = try #require(try await vault.codeFlow(web, username: "joe", image: TestImages.scene(seed: 9))["access_token"]?.stringValue)

            // The admin's bearer token is an admin principal in its tenant.
            #expect(try await vault.call(.GET, "/tenants/acme/users", as: .bearer(rootToken)).status == 200)
            #expect(try await vault.call(.GET, "/tenants/acme/users", as: .bearer(joeToken)).status == 403)
            #expect(try await vault.call(.GET, "/users/me", as: .bearer(joeToken)).json?["username"] == "joe")

            let made = try await vault.call(.POST, "/api-keys", json: ["name": "ci", "scopes": ["users:read"], "tenant_id": "acme"], as: .bearer(rootToken),
                                            headers: [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36"), ("CF-IPCountry", "es")])
            #expect(made.status == 201, "\(made.text)")
            let apiKey = try #require(made.json?["api_key"]?.stringValue)
            let keyID = try #require(made.json?["key_id"]?.stringValue)
            #expect(made.json?["created_at"]?["country"] == "ES")
            #expect(made.json?["created_at"]?["user_agent_parsed"]?["browser"]?["family"] == "Chrome")
            #expect(made.json?["created_at"]?["user_agent_parsed"]?["is_pc"] == true)
            let rows = try await vault.database.query("SELECT key_hash FROM api_keys", logger: .init(label: "t"))
            for try await hash in rows.decode(ByteBuffer.self) { #expect(SecureRandom.hexString(hash.readableBytesView) == made.json?["key_hash"]?.stringValue) }

            // The key carries its scopes and no more.
            #expect(try await vault.call(.GET, "/tenants/acme/users", as: .key(apiKey), headers: [("User-Agent", "curl/8.5.0")]).status == 200)
            let mine = try await vault.call(.GET, "/api-keys?tenant_id=acme", as: .bearer(rootToken))
            let listed = try #require(mine.json?["api_keys"]?.arrayValue?.first)
            #expect(listed["last_use_at"]?["user_agent_parsed"]?["browser"]?["family"] == "curl")
            #expect(listed["last_use_at"]?["user_agent_parsed"]?["is_bot"] == true)
            #expect(listed["api_key"] == nil)
            #expect(try await vault.call(.POST, "/tenants/acme/users", json: ["user_id": "z", "username": "z", "email": "z@example.com", "tenant_id": "acme"], as: .key(apiKey)).status == 403)

            // Joe cannot give himself scopes he lacks, nor touch root's key.
            #expect(try await vault.call(.POST, "/api-keys", json: ["name": "x", "scopes": ["users:read"], "tenant_id": "acme"], as: .bearer(joeToken)).status == 403)
            #expect(try await vault.call(.POST, "/api-keys/\(keyID)/regenerate", as: .bearer(joeToken)).status == 404)
            #expect(try await vault.call(.GET, "/api-keys?tenant_id=acme", as: .bearer(joeToken)).json?["api_keys"] == [])
            let unknownScope = try await vault.call(.POST, "/api-keys", json: ["name": "x", "scopes": ["everything"], "tenant_id": "acme"], as: .bearer(rootToken))
            #expect(unknownScope.status == 422)

            // Regenerating gives a new key; the old one stops at once.
            let regenerated = try await vault.call(.POST, "/api-keys/\(keyID)/regenerate", as: .bearer(rootToken))
            let newKey = try #require(regenerated.json?["api_key"]?.stringValue)
            #expect(newKey != apiKey)
            #expect(try await vault.call(.GET, "/tenants/acme/users", as: .key(apiKey)).status == 401)
            #expect(try await vault.call(.GET, "/tenants/acme/users", as: .key(newKey)).status == 200)

            let all = try await vault.call(.GET, "/admin/api-keys?tenant_id=acme")
            #expect(all.json?["api_keys"]?.arrayValue?.first?["username"] == "root")
            #expect(try await vault.call(.POST, "/admin/api-keys/\(keyID)/regenerate").status == 200)
            #expect(try await vault.call(.POST, "/admin/api-keys/not-a-uuid/regenerate").status == 404)
            // Lengths count code points, as pydantic and JSON Schema do: 30 letters with two
            // combining marks each are 90 (schemathesis found them accepted as 30).
            let marked = String(repeating: "a\u{0301}\u{0316}", count: 30)
            #expect(marked.count == 30 && marked.unicodeScalars.count == 90)
            let tooLong = try await vault.call(.GET, "/admin/api-keys?tenant_id=" + marked.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            #expect(tooLong.status == 422 && tooLong.json?["detail"]?.arrayValue?.first?["type"] == "string_too_long", "\(tooLong.text)")
        }
    }

    @Test func errorsSpeakTheSeedsDialect() async throws {
        try await VaultFixture.run { vault in
            let unknown = try await vault.call(.GET, "/no/such/route", as: .nobody)
            #expect(unknown.status == 404)
            #expect(unknown.json?["detail"] != nil)
            let method = try await vault.call(.DELETE, "/tenants", as: .nobody)
            #expect(method.status == 405)
            let notJSON = try await vault.service.send(.POST, vault.base + "/tenants", headers: [("X-API-Key", VaultFixture.operatorKey), ("Content-Type", "application/json")], body: Array("{".utf8))
            #expect(notJSON.status == 422)
            #expect(notJSON.json?["detail"]?.arrayValue?.first?["type"] == "json_invalid")
        }
    }
}

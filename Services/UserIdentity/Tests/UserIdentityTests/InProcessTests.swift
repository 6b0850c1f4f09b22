import Foundation
import PostgresNIO
import SuiteCore
import SuiteTesting
import Testing

@testable import UserIdentity

/// Handler logic, tested in process (no socket): what a caller without the role hears,
/// and how a body's fields are checked, with the seed's problem shape.
@Suite struct InProcessTests {
    static func run(_ body: @escaping @Sendable (InProcessClient, PostgresClient) async throws -> Void) async throws {
        try await ServiceFixture.inProcess(UserIdentityService.self) { _, sink in try UAI.settings(sinkPort: sink.port) } _: { client, database in
            try await body(client, database)
        }
    }

    static func login(_ client: InProcessClient, _ email: String) async throws -> String {
        let response = try await client.call(.post, "/authentications", json: ["email": .string(email), "password": "secret123"])
        return try #require(response.json?["accessToken"]?.stringValue)
    }

    @Test func creatingAUserNeedsTheRoleAndValidFields() async throws {
        try await Self.run { client, database in
            try await UAI.user("admin@example.com", in: database, roles: ["uai_admin"])
            try await UAI.user("plain@example.com", in: database, roles: ["tenant"])
            let admin = try await Self.login(client, "admin@example.com")
            let plain = try await Self.login(client, "plain@example.com")

            let anonymous = try await client.call(.post, "/users", json: ["email": "new@example.com", "fullname": "New User"])
            #expect(anonymous.status == 401)
            #expect(anonymous.header("Content-Type") == "application/problem+json")
            let withoutRole = try await client.call(.post, "/users", json: ["email": "new@example.com", "fullname": "New User"], token: plain)
            #expect(withoutRole.status == 403)

            let invalid = try await client.call(.post, "/users", json: ["email": "not-an-email", "fullname": "x"], token: admin)
            #expect(invalid.status == 422)
            #expect(invalid.json?["validationMessages"]?["email"] != nil)
            #expect(invalid.json?["validationMessages"]?["fullname"] != nil)

            let created = try await client.call(.post, "/users", json: ["email": "new@example.com", "fullname": "New User"], token: admin)
            #expect(created.status == 201)
            #expect(created.header("Location")?.contains("/users/") == true)
            let again = try await client.call(.post, "/users", json: ["email": "NEW@example.com", "fullname": "New User"], token: admin)
            #expect(again.status == 409)
        }
    }
}

import Foundation
import PostgresNIO
import SuiteCore
import SuiteTesting
import Testing

@testable import UserIdentity

/// Handler logic, tested in process (no socket): what a caller without the role hears,
/// and how a body's fields are checked, with the seed's problem shape.
@Suite struct InProcessTests {
    @Test func creatingAUserNeedsTheRoleAndValidFields() async throws {
        try await UAI.run { uai in
            try await uai.user("admin@example.com", roles: ["uai_admin"])
            try await uai.user("plain@example.com", roles: ["tenant"])
            let admin = try await uai.login("admin@example.com").access
            let plain = try await uai.login("plain@example.com").access

            let anonymous = try await uai.call(.POST, "/users", json: ["email": "new@example.com", "fullname": "New User"])
            #expect(anonymous.status == 401)
            #expect(anonymous.header("Content-Type") == "application/problem+json")
            let withoutRole = try await uai.call(.POST, "/users", json: ["email": "new@example.com", "fullname": "New User"], token: plain)
            #expect(withoutRole.status == 403)

            let invalid = try await uai.call(.POST, "/users", json: ["email": "not-an-email", "fullname": "x"], token: admin)
            #expect(invalid.status == 422)
            #expect(invalid.json?["validationMessages"]?["email"] != nil)
            #expect(invalid.json?["validationMessages"]?["fullname"] != nil)

            let created = try await uai.call(.POST, "/users", json: ["email": "new@example.com", "fullname": "New User"], token: admin)
            #expect(created.status == 201)
            #expect(created.header("Location")?.contains("/users/") == true)
            let again = try await uai.call(.POST, "/users", json: ["email": "NEW@example.com", "fullname": "New User"], token: admin)
            #expect(again.status == 409)
        }
    }
}

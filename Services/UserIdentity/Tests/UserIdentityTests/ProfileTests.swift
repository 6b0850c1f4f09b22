import Foundation
import SuiteCore
import SuiteTesting
import Testing

@testable import UserIdentity

/// Profiles: the seed's example round-trips, the fields it keeps when absent stay, bad
/// fields are named, and only admins and employees read another user's.
@Suite struct ProfileTests {
    static let example: JSONValue = [
        "phone": "123456789", "birthday": "2000-12-31", "gender": "female", "occupationType": "professional",
        "occupationOrganization": "Company Name", "occupationDescription": "Software engineer", "country": "spain", "isCouple": true,
        "aboutMe": "More info about me", "solvency": "family_support", "salaryFrom": 10, "salaryTo": 100, "salaryCurrency": "GBP",
        "salaryType": "monthly",
        "contacts": [["firstName": "John", "lastName": "Doe", "email": "johndoe@test.com", "phone": "123456789", "types": "cohabitant"]],
        "address": ["fullAddress": "1 Main St, Madrid", "postalCode": "28001", "countryCode": "ES"],
    ]

    @Test func aUserSavesAndReadsTheirProfile() async throws {
        try await UAI.run { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            #expect(try await uai.call(.GET, "/profiles/me").status == 401)
            let none = try await uai.call(.GET, "/profiles/me", token: token)
            #expect(none.status == 404 && none.header("Content-Type") == "application/problem+json")

            let saved = try await uai.call(.PUT, "/profiles/me", json: Self.example, token: token)
            #expect(saved.status == 204, "\(saved.text)")
            #expect(saved.header("Location")?.hasSuffix("/profiles/me") == true)
            let read = try await uai.call(.GET, "/profiles/me", token: token)
            #expect(read.status == 200 && read.json == Self.example, "\(read.text)")
            #expect(try await uai.count("SELECT count(*)::int FROM domain_events WHERE type_name = 'ProfileWasUpdated'") == 1)

            // The seed's kept fields stay when absent or null; the others follow the body;
            // the address changes field by field.
            let partial = try await uai.call(.PUT, "/profiles/me", json: [
                "phone": "987654321", "solvency": nil, "address": ["postalCode": "28002"],
            ], token: token)
            #expect(partial.status == 204, "\(partial.text)")
            let after = try #require(try await uai.call(.GET, "/profiles/me", token: token).json)
            #expect(after["phone"] == "987654321" && after["gender"] == .null && after["contacts"] == [])
            #expect(after["occupationDescription"] == "Software engineer" && after["solvency"] == "family_support")
            #expect(after["salaryFrom"] == 10 && after["salaryTo"] == 100 && after["salaryCurrency"] == "GBP" && after["salaryType"] == "monthly")
            #expect(after["address"] == ["fullAddress": "1 Main St, Madrid", "postalCode": "28002", "countryCode": "ES"])
        }
    }

    @Test func badFieldsAreNamedAndNothingIsSaved() async throws {
        try await UAI.run { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            #expect(try await uai.call(.PUT, "/profiles/me", json: Self.example, token: token).status == 204)
            let bad = try await uai.call(.PUT, "/profiles/me", json: [
                "birthday": "2000-02-30", "salaryFrom": 200, "salaryTo": 100, "salaryCurrency": "euro", "isCouple": "yes",
                "phone": .string(String(repeating: "1", count: 40)), "contacts": [["email": "not-an-email"]], "gender": 5,
            ], token: token)
            #expect(bad.status == 422)
            let messages = try #require(bad.json?["validationMessages"]?.objectValue)
            for field in ["birthday", "salaryTo", "salaryCurrency", "isCouple", "phone", "contacts.0.email", "gender"] {
                #expect(messages[field] != nil, "\(field): \(bad.text)")
            }
            #expect(try await uai.call(.GET, "/profiles/me", token: token).json == Self.example)
            #expect(try await uai.call(.PUT, "/profiles/me", json: ["a", "b"], token: token).status == 422)
            #expect(try await uai.call(.PUT, "/profiles/me", json: ["birthday": "2999-01-01"], token: token).status == 422)
        }
    }

    @Test func anotherUsersProfileIsForAdminsAndEmployees() async throws {
        try await UAI.run { uai in
            let ann = try await uai.user("ann@example.com")
            try await uai.user("bob@example.com", roles: ["tenant"])
            try await uai.user("emma@example.com", roles: ["uai_employee"])
            let annToken = try await uai.login("ann@example.com").access
            #expect(try await uai.call(.PUT, "/profiles/me", json: Self.example, token: annToken).status == 204)
            let path = "/profiles/\(ann.uuidString.lowercased())"
            #expect(try await uai.call(.GET, path).status == 401)
            #expect(try await uai.call(.GET, path, token: try await uai.login("bob@example.com").access).status == 403)
            let employee = try await uai.login("emma@example.com").access
            #expect(try await uai.call(.GET, path, token: employee).json == Self.example)
            #expect(try await uai.call(.GET, path, token: try await uai.admin()).status == 200)
            #expect(try await uai.call(.GET, "/profiles/\(UUID().uuidString)", token: employee).status == 404)
            #expect(try await uai.call(.GET, "/profiles/not-a-uuid", token: employee).status == 404)
        }
    }
}

import ArgumentParser
import Foundation
import SuiteCore
import SuiteHTTP

/// `meet-rooms applications …`: operators register the API's clients here. The secret
/// is printed once, on creation and rotation, and kept only as its SHA-256.
struct ApplicationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "applications", abstract: "Manage the applications that call the External API.",
        subcommands: [Create.self, List.self, Show.self, RotateSecret.self, Disable.self, Enable.self, Domains.self])

    static func store<T: Sendable>(_ body: @Sendable (ApplicationStore) async throws -> T) async throws -> T {
        try await MeetRoomsService.withMigratedDatabase { client, _, _, logger in
            try await body(ApplicationStore(database: client, logger: logger))
        }
    }

    static func describe(_ application: Application) -> String {
        """
        client_id: \(application.clientID)
        name:      \(application.name)
        active:    \(application.isActive ? "yes" : "no")
        scopes:    \(application.scopes.joined(separator: " "))
        domains:   \(application.domains.isEmpty ? "any" : application.domains.joined(separator: " "))
        created:   \(ISO8601DateFormatter().string(from: application.createdAt))
        """
    }

    static func validDomain(_ domain: String) throws -> String {
        let lower = domain.trimmingCharacters(in: .whitespaces).lowercased()
        guard Validate.isEmail("x@" + lower) else { throw ValidationError("\(domain) is not an email domain") }
        return lower
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an application; prints its client_id and secret.")

        @Option(help: "A name for operators.") var name: String
        @Option(help: "A scope it may use (repeat): \(Scope.all.joined(separator: ", ")).") var scope: [String] = []
        @Option(help: "An email domain it may act for (repeat); none means any.") var domain: [String] = []

        func run() async throws {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--name must not be empty") }
            let scopes = scope.flatMap { $0.split(separator: " ").map(String.init) }
            if let unknown = scopes.first(where: { !Scope.all.contains($0) }) {
                throw ValidationError("unknown scope \(unknown); scopes are \(Scope.all.joined(separator: ", "))")
            }
            guard !scopes.isEmpty else { throw ValidationError("give at least one --scope") }
            let domains = try domain.map(ApplicationsCommand.validDomain)
            let secret = Credentials.newSecret()
            let application = Application(
                id: UUID(), name: name, clientID: Credentials.newClientID(), secretHash: Credentials.hash(secret), isActive: true,
                scopes: Scope.all.filter(scopes.contains), domains: Array(Set(domains)).sorted(), createdAt: Date())
            try await ApplicationsCommand.store { try await $0.insert(application) }
            print(ApplicationsCommand.describe(application))
            print("secret:    \(secret)")
            print("(the secret is shown only now; keep it safe)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applications.")

        func run() async throws {
            for application in try await ApplicationsCommand.store({ try await $0.list() }) {
                print("\(application.clientID)  \(application.isActive ? "active  " : "disabled")  \(application.name)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one application.")
        @Argument var clientID: String

        func run() async throws {
            guard let application = try await ApplicationsCommand.store({ try await $0.find(clientID: clientID) }) else {
                throw ValidationError("no application \(clientID)")
            }
            print(ApplicationsCommand.describe(application))
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret", abstract: "Replace the secret; the old one stops working at once.")
        @Argument var clientID: String

        func run() async throws {
            let secret = Credentials.newSecret()
            guard try await ApplicationsCommand.store({ try await $0.update(clientID, .secret(Credentials.hash(secret))) }) else {
                throw ValidationError("no application \(clientID)")
            }
            print("secret: \(secret)")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse the application's tokens, including those already issued.")
        @Argument var clientID: String

        func run() async throws {
            guard try await ApplicationsCommand.store({ try await $0.update(clientID, .active(false)) }) else {
                throw ValidationError("no application \(clientID)")
            }
            print("disabled \(clientID)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept the application again.")
        @Argument var clientID: String

        func run() async throws {
            guard try await ApplicationsCommand.store({ try await $0.update(clientID, .active(true)) }) else {
                throw ValidationError("no application \(clientID)")
            }
            print("enabled \(clientID)")
        }
    }

    struct Domains: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the email domains an application may act for.", subcommands: [Add.self, Remove.self])

        struct Add: AsyncParsableCommand {
            @Argument var clientID: String
            @Argument var domain: String

            func run() async throws {
                let domain = try ApplicationsCommand.validDomain(domain)
                guard try await ApplicationsCommand.store({ try await $0.update(clientID, .addDomain(domain)) }) else {
                    throw ValidationError("no application \(clientID)")
                }
                print("\(clientID) may act for \(domain)")
            }
        }

        struct Remove: AsyncParsableCommand {
            @Argument var clientID: String
            @Argument var domain: String

            func run() async throws {
                let domain = try ApplicationsCommand.validDomain(domain)
                let clientID = clientID
                try await ApplicationsCommand.store { store in
                    guard let application = try await store.find(clientID: clientID) else {
                        throw ValidationError("no application \(clientID)")
                    }
                    // No domains means any domain: removing the last one must not widen access.
                    if application.domains == [domain] {
                        throw ValidationError("\(domain) is its last domain; without any it could act for every domain (disable it instead)")
                    }
                    try await store.update(clientID, .removeDomain(domain))
                }
                print("\(clientID) no longer acts for \(domain)")
            }
        }
    }
}

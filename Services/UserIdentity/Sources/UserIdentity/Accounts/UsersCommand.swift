import ArgumentParser
public import Foundation
public import Logging
public import PostgresNIO
import SuiteCore
import SuiteHTTP

/// `user-identity users …`: what an operator needs before anyone can log in.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Manage accounts from the command line.", subcommands: [CreateAdmin.self])

    struct CreateAdmin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-admin",
            abstract: "Create an enabled uai_admin account; the password is read from standard input.")

        @Option(help: "The admin's email address.") var email: String
        @Option(help: "The admin's full name (at least 4 characters).") var fullname: String
        @Option(help: "The admin's locale.") var locale: String = "en"

        func run() async throws {
            var validator = Validator()
            let email = validator.email(email)
            let fullname = validator.fullname(fullname)
            let password = validator.password(readLine(strippingNewline: true))
            let locale = validator.locale(locale)
            guard validator.messages.isEmpty, let email, let fullname, let password else {
                let problems = validator.messages.fields.sorted { $0.key < $1.key }
                    .map { "\($0.key): \($0.value.values.sorted().joined(separator: "; "))" }
                throw ValidationError(problems.joined(separator: "\n"))
            }
            let created = try await UserIdentityService.withMigratedDatabase { client, _, settings, logger in
                do {
                    return try await UserIdentityService.createAdmin(
                        email: email, fullname: fullname, password: password, locale: locale, database: client,
                        bcryptCost: settings.bcryptCost, logger: logger)
                } catch let error as AppError where error.status == .conflict {
                    throw ValidationError("an account with the email \(email) already exists")
                }
            }
            print(created.uuidString.lowercased())
        }
    }
}

extension UserIdentityService {
    /// An enabled uai_admin account with this password: the first admin of an
    /// installation (`user-identity users create-admin`), and the one a peer's tests
    /// log in as to set up users over the HTTP API. 409 when the email is taken.
    public static func createAdmin(
        email: String, fullname: String, password: String, locale: String = "en", database: PostgresClient, bcryptCost: Int,
        logger: Logger
    ) async throws -> UUID {
        let hash = try await PasswordHasher(cost: bcryptCost).hash(password)
        let user = User(
            id: UUID(), email: email, fullname: fullname, locale: locale, roles: [Role.admin], passwordHash: hash,
            isEnabled: true, prototype: false, createdAt: Date(), lastAuthenticationAt: nil)
        let store = UserStore(database: database, logger: logger)
        do {
            try await database.withRequestTransaction(logger: logger) { connection in try await store.insert(user, on: connection) }
        } catch let error as PostgresTransactionError {
            throw (error.closureError as? AppError) ?? error
        }
        return user.id
    }
}

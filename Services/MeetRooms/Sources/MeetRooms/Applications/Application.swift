import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SuiteCore
import SuiteSigning

/// A client of the External API: an application that acts for users of some email
/// domains, within some scopes.
struct Application: Sendable {
    var id: UUID
    var name: String
    var clientID: String
    var secretHash: [UInt8]
    var isActive: Bool
    var scopes: [String]
    /// Lowercased; none means any domain.
    var domains: [String]
    var createdAt: Date

    func mayDelegate(domain: String) -> Bool {
        domains.isEmpty || domains.contains(domain.lowercased())
    }
}

enum Scope {
    static let all = MeetScope.allCases.map(\.rawValue)
}

/// Client ids and secrets: letters and digits from the system CSPRNG.
enum Credentials {
    static func newClientID() -> String { SecureRandom.string(count: 40) }
    static func newSecret() -> String { SecureRandom.string(count: 128) }

    static func hash(_ secret: String) -> [UInt8] { sha256(secret) }

    /// Compares digests without an early exit, so the time taken says nothing about
    /// how much of a guessed secret was right.
    static func matches(_ secret: String, hash: [UInt8]) -> Bool {
        let candidate = self.hash(secret)
        guard candidate.count == hash.count else { return false }
        var difference: UInt8 = 0
        for index in candidate.indices { difference |= candidate[index] ^ hash[index] }
        return difference == 0
    }
}

/// The SQL of applications.
struct ApplicationStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    fileprivate static let columns = "id, name, client_id, secret_hash, is_active, scopes, domains, created_at"

    private func all(_ rows: PostgresRowSequence) async throws -> [Application] {
        var found: [Application] = []
        for try await (id, name, clientID, hash, active, scopes, domains, created) in rows.decode(
            (UUID, String, String, ByteBuffer, Bool, [String], [String], Date).self)
        {
            found.append(Application(
                id: id, name: name, clientID: clientID, secretHash: Array(buffer: hash), isActive: active, scopes: scopes,
                domains: domains, createdAt: created))
        }
        return found
    }

    /// Prepared once per connection: every token request starts here.
    struct ByClientID: PostgresPreparedStatement {
        static let name = "meet_application_by_client_id"
        static let sql = "SELECT \(ApplicationStore.columns) FROM applications WHERE client_id = $1"
        typealias Row = Application
        let clientID: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(clientID)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Application {
            let c = row.makeRandomAccess()
            return Application(
                id: try c[0].decode(UUID.self), name: try c[1].decode(String.self), clientID: try c[2].decode(String.self),
                secretHash: Array(buffer: try c[3].decode(ByteBuffer.self)), isActive: try c[4].decode(Bool.self),
                scopes: try c[5].decode([String].self), domains: try c[6].decode([String].self), createdAt: try c[7].decode(Date.self))
        }
    }

    func find(clientID: String) async throws -> Application? {
        for try await application in try await database.sql(ByClientID(clientID: clientID), logger: logger) { return application }
        return nil
    }

    func list() async throws -> [Application] {
        try await all(database.sql("SELECT \(unescaped: Self.columns) FROM applications ORDER BY created_at, id", logger: logger))
    }

    func insert(_ application: Application) async throws {
        try await database.sql(
            """
            INSERT INTO applications (id, name, client_id, secret_hash, is_active, scopes, domains, created_at)
            VALUES (\(application.id), \(application.name), \(application.clientID), \(ByteBuffer(bytes: application.secretHash)),
                    \(application.isActive), \(application.scopes), \(application.domains), \(application.createdAt))
            """, logger: logger)
    }

    /// Runs one change and says whether the application exists.
    @discardableResult
    func update(_ clientID: String, _ change: Change) async throws -> Bool {
        let rows: PostgresRowSequence
        switch change {
        case .secret(let hash):
            rows = try await database.sql(
                "UPDATE applications SET secret_hash = \(ByteBuffer(bytes: hash)) WHERE client_id = \(clientID) RETURNING 1",
                logger: logger)
        case .active(let active):
            rows = try await database.sql(
                "UPDATE applications SET is_active = \(active) WHERE client_id = \(clientID) RETURNING 1", logger: logger)
        case .addDomain(let domain):
            rows = try await database.sql(
                """
                UPDATE applications SET domains = CASE WHEN \(domain) = ANY(domains) THEN domains ELSE array_append(domains, \(domain)) END
                WHERE client_id = \(clientID) RETURNING 1
                """, logger: logger)
        case .removeDomain(let domain):
            rows = try await database.sql(
                "UPDATE applications SET domains = array_remove(domains, \(domain)) WHERE client_id = \(clientID) RETURNING 1",
                logger: logger)
        }
        for try await _ in rows { return true }
        return false
    }

    enum Change {
        case secret([UInt8])
        case active(Bool)
        case addDomain(String)
        case removeDomain(String)
    }

    /// What the bearer check needs on every request: is the application still active,
    /// and which scopes does it hold now. Prepared once per connection.
    struct Standing: PostgresPreparedStatement {
        static let name = "meet_application_standing"
        static let sql = "SELECT is_active, scopes FROM applications WHERE client_id = $1"
        typealias Row = (Bool, [String])
        let clientID: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(clientID)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (Bool, [String]) {
            let columns = row.makeRandomAccess()
            return (try columns[0].decode(Bool.self), try columns[1].decode([String].self))
        }
    }

    func standing(of clientID: String) async throws -> (active: Bool, scopes: [String])? {
        for try await row in try await database.sql(Standing(clientID: clientID), logger: logger) { return row }
        return nil
    }
}

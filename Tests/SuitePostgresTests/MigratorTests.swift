import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteTesting
import Testing

@testable import SuitePostgres

/// Runs `body` with a running client for a fresh database.
func withDatabase<T: Sendable>(schema: String = "svc", _ body: @Sendable (PostgresClient, DatabaseConfiguration) async throws -> T)
    async throws -> T
{
    let configuration = try await TestPostgres.shared.makeDatabase(schema: schema)
    let client = configuration.makeClient(logger: Logger(label: "test"))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client, configuration)
    }
}

let logger: Logger = {
    var logger = Logger(label: "migrations-test")
    logger.logLevel = .critical
    return logger
}()

let first = Migration(version: 1, name: "rooms", sql: """
    CREATE TABLE rooms (id uuid PRIMARY KEY, slug text NOT NULL UNIQUE);
    CREATE INDEX rooms_slug ON rooms (slug);
    """)
let second = Migration(version: 2, name: "accesses", sql: "CREATE TABLE room_accesses (room_id uuid REFERENCES rooms(id), user_id text);")

@Suite struct MigratorTests {
    @Test func appliesPendingMigrationsInOrderAndRecordsThem() async throws {
        try await withDatabase { client, _ in
            let migrator = Migrator(client: client, schema: "svc", logger: logger)
            #expect(try await migrator.migrate([second, first]) == [1, 2])
            #expect(try await migrator.appliedVersions() == [1, 2])
            // The tables live in the service's schema, not in public.
            let rows = try await client.query(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'rooms'"
            ).collect()
            #expect(rows.count == 1)
            #expect(try rows.first?.decode(String.self) == "svc")
        }
    }

    @Test func runningAgainAppliesNothing() async throws {
        try await withDatabase { client, _ in
            let migrator = Migrator(client: client, schema: "svc", logger: logger)
            try await migrator.migrate([first])
            #expect(try await migrator.migrate([first]) == [])
            #expect(try await migrator.migrate([first, second]) == [2])
        }
    }

    /// `MIGRATE_ON_START=false`: a service checks the schema a migration job made.
    @Test func verifyingWithoutMigratingNamesWhatIsMissingOrUnknown() async throws {
        try await withDatabase { client, _ in
            let migrator = Migrator(client: client, schema: "svc", logger: logger)
            await #expect(throws: MigrationError.pendingVersions([1, 2])) { try await migrator.verify([first, second]) }
            try await migrator.migrate([first])
            await #expect(throws: MigrationError.pendingVersions([2])) { try await migrator.verify([first, second]) }
            try await migrator.migrate([first, second])
            try await migrator.verify([first, second])
            // A binary older than the schema is refused as `migrate` refuses it.
            await #expect(throws: MigrationError.unknownVersionsApplied([2])) { try await migrator.verify([first]) }
        }
    }

    @Test func refusesADatabaseThatIsNewerThanTheBinary() async throws {
        try await withDatabase { client, _ in
            let migrator = Migrator(client: client, schema: "svc", logger: logger)
            try await migrator.migrate([first, second])
            await #expect(throws: MigrationError.unknownVersionsApplied([2])) {
                try await migrator.migrate([first])
            }
        }
    }

    @Test func aFailingMigrationLeavesNothingHalfDone() async throws {
        try await withDatabase { client, _ in
            let migrator = Migrator(client: client, schema: "svc", logger: logger)
            let broken = Migration(version: 3, name: "broken", sql: "CREATE TABLE ok_table (id int); SELECT * FROM missing_table;")
            await #expect(throws: (any Error).self) { try await migrator.migrate([first, second, broken]) }
            // Not even the first two: all pending migrations share one transaction.
            #expect(try await migrator.migrate([first, second]) == [1, 2])
            let leftovers = try await client.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'ok_table'").collect()
            #expect(leftovers.isEmpty)
        }
    }

    @Test func replicasStartingTogetherMigrateOnce() async throws {
        try await withDatabase { client, _ in
            let migrator = Migrator(client: client, schema: "svc", logger: logger)
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 { group.addTask { try await migrator.migrate([first, second]) } }
                var all: [[Int]] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(applied.filter { !$0.isEmpty } == [[1, 2]])
            #expect(try await migrator.appliedVersions() == [1, 2])
        }
    }

    @Test func duplicateNumbersAreABug() async throws {
        try await withDatabase { client, _ in
            let migrator = Migrator(client: client, schema: "svc", logger: logger)
            await #expect(throws: MigrationError.duplicateVersion(1)) {
                try await migrator.migrate([first, Migration(version: 1, name: "again", sql: "SELECT 1")])
            }
        }
    }

    @Test func migrationFilesAreNamedByTheirNumber() {
        let migration = Migration(fileName: "0007_room_pins.sql", bytes: Array("SELECT 1;".utf8))
        #expect(migration.version == 7)
        #expect(migration.name == "room_pins")
        #expect(migration.sql == "SELECT 1;")
    }
}

@Suite struct DatabaseConfigurationTests {
    @Test func readsAPostgresURL() throws {
        let configuration = try DatabaseConfiguration(
            url: "postgres://uai:p%40ss@db.internal:6543/suite?sslmode=require", schema: "uai", poolSize: 12)
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "uai")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == "suite")
        #expect(configuration.tls == .require)
        #expect(configuration.poolSize == 12)
        #expect(!configuration.redactedDescription.contains("p@ss"))
    }

    /// A process names its connections within PostgreSQL's 63 bytes, printable ASCII only,
    /// and two processes on one host apart.
    @Test func aProcessNamesItsConnectionsWithinPostgreSQLsLimit() {
        let name = DatabaseConfiguration.instanceName(service: "identity-associations", host: "pod-" + String(repeating: "x", count: 80) + "\u{e9}\n")
        #expect(name.utf8.count <= 63 && name.hasPrefix("identity-associations pod-x"), "\(name)")
        #expect(name.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F })
        #expect(DatabaseConfiguration.instanceName(service: "meet-rooms", host: "").hasPrefix("meet-rooms "))
        #expect(DatabaseConfiguration.instanceName(service: "meet-rooms", host: "a") != DatabaseConfiguration.instanceName(service: "meet-rooms", host: "a"))
    }

    @Test func readsAUnixSocketDirectory() throws {
        let configuration = try DatabaseConfiguration(url: "postgresql://meet@/suite?host=/run/postgresql", schema: "meet", poolSize: 8)
        #expect(configuration.unixSocketPath == "/run/postgresql/.s.PGSQL.5432")
    }

    @Test(arguments: ["mysql://u@h/db", "postgres://h/db", "postgres://u@h/", "postgres://u@h/db?sslmode=sometimes"])
    func refusesWhatItCannotUse(_ url: String) {
        let error = #expect(throws: ConfigurationError.self) { try DatabaseConfiguration(url: url, schema: "x", poolSize: 1) }
        #expect(error?.variable == "DATABASE_URL")
    }

    @Test(arguments: ["Meet", "1abc", "a-b", "a;drop", ""])
    func refusesSchemaNamesThatAreNotIdentifiers(_ schema: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try DatabaseConfiguration(url: "postgres://u@h/db", schema: schema, poolSize: 1)
        }
        #expect(error?.variable == "DATABASE_SCHEMA")
    }
}

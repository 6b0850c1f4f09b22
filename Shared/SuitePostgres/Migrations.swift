import Foundation
public import Logging
public import PostgresNIO

/// One numbered SQL file of a service: `Migrations/0001_rooms.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Builds a migration from a file name of the form `NNNN_name.sql` and its bytes.
    public init(fileName: String, bytes: [UInt8]) {
        let stem = fileName.hasSuffix(".sql") ? String(fileName.dropLast(4)) : fileName
        let digits = stem.prefix(while: \.isNumber)
        precondition(!digits.isEmpty, "migration file \(fileName) must start with its number")
        self.init(
            version: Int(digits)!, name: String(stem.dropFirst(digits.count).drop(while: { $0 == "_" })),
            sql: String(decoding: bytes, as: UTF8.self))
    }
}

public enum MigrationError: Error, CustomStringConvertible, Equatable {
    /// The database has migrations this binary does not know: it is older than the
    /// schema, and running it could write data the newer code does not expect.
    case unknownVersionsApplied([Int])
    case duplicateVersion(Int)
    /// `MIGRATE_ON_START=false` and the schema lacks migrations this binary needs.
    case pendingVersions([Int])

    public var description: String {
        switch self {
        case .unknownVersionsApplied(let versions):
            "the database has migrations this binary does not know (\(versions.map(String.init).joined(separator: ", "))): deploy a newer binary"
        case .duplicateVersion(let version):
            "two migrations share the number \(version)"
        case .pendingVersions(let versions):
            "the schema lacks migrations this binary needs (\(versions.map(String.init).joined(separator: ", "))): run `<service> migrate` (the migration job) first, or set MIGRATE_ON_START=true"
        }
    }
}

/// Applies a service's migrations to its schema: all pending ones in one transaction,
/// under an advisory lock so replicas starting together migrate once, recorded in the
/// schema's `schema_migrations`.
public struct Migrator: Sendable {
    public let client: PostgresClient
    public let schema: String
    public let logger: Logger

    public init(client: PostgresClient, schema: String, logger: Logger) {
        precondition(DatabaseConfiguration.isIdentifier(schema), "schema must be an identifier")
        self.client = client
        self.schema = schema
        self.logger = logger
    }

    /// Applies what is pending and returns the versions applied now.
    @discardableResult
    public func migrate(_ migrations: [Migration]) async throws -> [Int] {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw MigrationError.duplicateVersion(next.version)
        }
        let schema = self.schema
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.sql("SELECT pg_advisory_xact_lock(hashtext(\("suite-migrations:" + schema)))", logger: logger)
                // Checked before creating: a role that owns its schema but may not create
                // schemas (production) must still migrate.
                let exists = try await connection.sql(
                    "SELECT 1 FROM pg_namespace WHERE nspname = \(schema)", logger: logger
                ).collect().count > 0
                if !exists {
                    try await connection.sql(PostgresQuery(unsafeSQL: "CREATE SCHEMA \"\(schema)\""), logger: logger)
                }
                try await connection.sql(
                    PostgresQuery(unsafeSQL: """
                        CREATE TABLE IF NOT EXISTS "\(schema)".schema_migrations (
                            version integer PRIMARY KEY,
                            name text NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now()
                        )
                        """), logger: logger)
                var applied: Set<Int> = []
                for try await version in try await connection.sql(
                    PostgresQuery(unsafeSQL: "SELECT version FROM \"\(schema)\".schema_migrations"), logger: logger
                ).decode(Int.self) {
                    applied.insert(version)
                }
                let known = Set(sorted.map(\.version))
                let unknown = applied.subtracting(known).sorted()
                guard unknown.isEmpty else { throw MigrationError.unknownVersionsApplied(unknown) }

                var done: [Int] = []
                for migration in sorted where !applied.contains(migration.version) {
                    try await connection.sql(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(schema)\""), logger: logger)
                    for statement in SQLScript.statements(migration.sql) {
                        try await connection.sql(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.sql(
                        PostgresQuery(
                            unsafeSQL: "INSERT INTO \"\(schema)\".schema_migrations (version, name) VALUES ($1, $2)",
                            binds: {
                                var binds = PostgresBindings()
                                binds.append(migration.version)
                                binds.append(migration.name)
                                return binds
                            }()), logger: logger)
                    logger.info("migration applied", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                    done.append(migration.version)
                }
                return done
            }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    /// With `MIGRATE_ON_START=false`: the schema must hold every one of `migrations` and
    /// nothing newer (an older binary on a newer schema is refused, as `migrate` refuses).
    public func verify(_ migrations: [Migration]) async throws {
        let applied: Set<Int>
        do {
            applied = Set(try await appliedVersions())
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P01" {
            applied = []  // no schema_migrations table yet: nothing applied
        }
        let known = Set(migrations.map(\.version))
        let unknown = applied.subtracting(known).sorted()
        guard unknown.isEmpty else { throw MigrationError.unknownVersionsApplied(unknown) }
        let pending = known.subtracting(applied).sorted()
        guard pending.isEmpty else { throw MigrationError.pendingVersions(pending) }
    }

    /// The versions recorded in the schema, oldest first (empty for a new database).
    public func appliedVersions() async throws -> [Int] {
        let rows = try await client.sql(
            "SELECT version FROM schema_migrations ORDER BY version", logger: logger)
        var versions: [Int] = []
        for try await version in rows.decode(Int.self) { versions.append(version) }
        return versions
    }
}

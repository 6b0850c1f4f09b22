// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// One service: a library with everything and a thin executable. Its tests join when it has routes of its own.
func service(
    _ name: String, executable: String, migrations: [String], resources: [String] = [],
    dependencies: [Target.Dependency] = []
) -> [Target] {
    [
        .target(
            name: name,
            dependencies: [
                "SuiteCore", "SuiteSigning", "SuitePostgres", "SuiteHTTP", "SuiteContracts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + dependencies,
            path: "Services/\(name)/Sources/\(name)",
            resources: [.embedInCode("openapi.yaml")] + migrations.map { .embedInCode("Migrations/\($0)") }
                + resources.map { .embedInCode($0) },
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: executable,
            dependencies: [
                .byName(name: name), "SuiteHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/\(name)/Sources/\(executable)",
            swiftSettings: swiftSettings
        ),
    ]
}

/// User&Identity's built-in mail templates (`TEMPLATES_DIR` overrides them file by file).
let userIdentityTemplates = ["activation", "invitation", "email-change", "email-changed", "email-changed-notice", "forgotten-password"]
    .flatMap { name in ["en", "es"].flatMap { locale in ["\(name).\(locale).txt", "\(name).\(locale).html"] } }

let package = Package(
    name: "suite",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meet-rooms", targets: ["meet-rooms"]),
        .executable(name: "identity-associations", targets: ["identity-associations"]),
        .executable(name: "user-identity", targets: ["user-identity"]),
        .executable(name: "oidc-vault", targets: ["oidc-vault"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // OTLP over HTTP only: the gRPC exporter would bring grpc-swift for nothing.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        .target(
            name: "SuiteCore",
            dependencies: [
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/SuiteCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SuiteSigning",
            dependencies: [
                "SuiteCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Shared/SuiteSigning",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SuitePostgres",
            dependencies: [
                "SuiteCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/SuitePostgres",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SuiteHTTP",
            dependencies: [
                "SuiteCore", "SuiteSigning", "SuitePostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Shared/SuiteHTTP",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SuiteMail",
            dependencies: [
                "SuiteCore", "SuitePostgres", "SuiteHTTP",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            path: "Shared/SuiteMail",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SuiteContracts",
            dependencies: [
                "SuiteCore", "SuiteHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Shared/SuiteContracts",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SuiteTesting",
            dependencies: [
                "SuiteCore", "SuitePostgres", "SuiteSigning", "SuiteHTTP",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Shared/SuiteTesting",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SuiteCoreTests", dependencies: ["SuiteCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SuiteMailTests",
            dependencies: ["SuiteMail", "SuiteTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SuiteSigningTests",
            dependencies: ["SuiteSigning", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["rsa-test-key.pem"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SuitePostgresTests", dependencies: ["SuitePostgres", "SuiteTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SuiteHTTPTests",
            dependencies: [
                "SuiteHTTP", "SuiteContracts", "SuiteTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Only to make the pool's real error in a test of its recognition.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "MeetRooms", "IdentityAssociations", "UserIdentity", "OIDCVault", "VaultZKP", "SuiteTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DeployTests", dependencies: [], swiftSettings: swiftSettings),
        .testTarget(
            name: "IdentityAssociationsTests",
            dependencies: [
                "IdentityAssociations", "SuiteTesting", "SuiteMail", "SuiteSigning",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Services/IdentityAssociations/Tests/IdentityAssociationsTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MeetRoomsTests",
            dependencies: [
                "MeetRooms", "UserIdentity", "IdentityAssociations", "SuiteTesting",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Services/MeetRooms/Tests/MeetRoomsTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "UserIdentityTests",
            dependencies: [
                "UserIdentity", "SuiteTesting", "SuiteMail",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Services/UserIdentity/Tests/UserIdentityTests",
            swiftSettings: swiftSettings
        ),
    ]
        + service(
            "MeetRooms", executable: "meet-rooms", migrations: ["0001_init.sql", "0002_rooms.sql", "0003_limits.sql", "0004_room_counts.sql", "0005_room_attendee_list.sql",
                "0006_outbox_notify.sql", "0007_rooms_by_name.sql", "0008_outbox_created.sql",
            ],
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ])
        + service(
            "IdentityAssociations", executable: "identity-associations",
            migrations: [
                "0001_init.sql", "0002_room_invites.sql", "0003_outbox.sql", "0004_identity.sql", "0005_sms_and_rate_limits.sql",
                "0006_association_log.sql", "0007_onbind.sql", "0008_outbox_notify.sql",
            ],
            resources: ["Templates/room-invite.en.txt", "Templates/room-invite.en.html", "Templates/room-invite.fr.txt"]
                + ["verification_template.eml", "invite_template.eml", "verify_response_template.html"].map { "Templates/default/\($0)" },
            dependencies: [
                "SuiteMail", "CResolver",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ])
        + service(
            "UserIdentity", executable: "user-identity", migrations: ["0001_init.sql", "0002_accounts.sql", "0003_outbox_and_limits.sql", "0004_outbox_notify.sql",
                "0005_profiles.sql", "0006_documents.sql", "0007_phone_verifications.sql", "0008_social_logins.sql", "0009_vault_relay.sql",
            ],
            resources: userIdentityTemplates.map { "Templates/\($0)" },
            dependencies: [
                "SuiteMail",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ])
        + service(
            "OIDCVault", executable: "oidc-vault", migrations: [
                "0001_init.sql", "0002_vault.sql", "0003_outbox_limits.sql", "0004_refresh_successor.sql", "0005_step_up_and_root_issuer.sql",
                "0006_outbox_notify.sql", "0007_scim.sql", "0008_passkeys.sql", "0009_external_id_index.sql", "0010_username_prefix_index.sql",
            ],
            resources: ["LoginPage/login.html", "LoginPage/error.html", "LoginPage/login.js", "LoginPage/zkp.js", "LoginPage/login.css"],
            dependencies: [
                "SuiteMail", "VaultZKP",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ])
        + [
            // The system resolver (glibc's res_nquery) for identity-associations' SRV look-ups.
            .target(
                name: "CResolver",
                path: "Services/IdentityAssociations/Sources/CResolver",
                linkerSettings: [.linkedLibrary("resolv")]
            ),
            .target(
                name: "VaultZKP",
                dependencies: ["SuiteCore", "SuiteSigning", .product(name: "Crypto", package: "swift-crypto")],
                path: "Services/OIDCVault/Sources/VaultZKP",
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "OIDCVaultTests",
                dependencies: [
                    "OIDCVault", "VaultZKP", "SuiteTesting", "SuiteMail", "SuiteSigning",
                    .product(name: "Crypto", package: "swift-crypto"),
                    .product(name: "_CryptoExtras", package: "swift-crypto"),
                    .product(name: "NIOHTTP1", package: "swift-nio"),
                    .product(name: "PostgresNIO", package: "postgres-nio"),
                ],
                path: "Services/OIDCVault/Tests/OIDCVaultTests",
                swiftSettings: swiftSettings
            ),
        ],
    swiftLanguageModes: [.v6]
)

import Foundation
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuitePostgres

/// Flow 4: every change to an account (created, activated, enabled or disabled, email,
/// roles, information) is relayed to the vault's tenant `UAI_VAULT_PROVISION_TENANT`,
/// so the vault user carries `external_id` = this account's id. The relay reads the
/// domain events in order from where it stopped (`vault_relay`, in PostgreSQL, so a
/// restart or another replica resumes there) and sends each changed account's whole
/// current state: at least once, idempotent, in order per user. It wakes on each commit
/// of events; a vault that is down is retried with backoff, nothing skipped.
struct VaultRelay: Service {
    let database: PostgresClient
    let tenant: String
    let peers: InternalClient
    let users: UserStore
    let doorbell: Doorbell?
    let logger: Logger
    let lagEvents: Gauge
    let lagSeconds: Gauge
    var store: VaultRelayStore { VaultRelayStore(logger: logger) }

    static let accountEvents: Set<String> = [
        "UserWasCreated", "UserWasActivated", "UserWasEnabled", "UserWasDisabled", "UserRoleWasAdded", "UserRoleWasRemoved",
        "UserEmailWasChanged", "UserInformationWasUpdated", "SocialUserWasRegistered", "InvitationWasRedeemed",
    ]

    init(database: PostgresClient, tenant: String, peers: InternalClient, doorbell: Doorbell?, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.database = database
        self.tenant = tenant
        self.peers = peers
        self.users = UserStore(database: database, logger: logger)
        self.doorbell = doorbell
        self.logger = logger
        lagEvents = registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "uai_vault_relay_lag_events", unitName: "", helpText: "Account events not relayed to the vault yet"))
        lagSeconds = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "uai_vault_relay_lag_seconds", unitName: "", helpText: "Age of the oldest account event not relayed to the vault yet"))
    }

    func run() async throws {
        var backoff = Duration.milliseconds(250)
        while !Task.isShuttingDownGracefully {
            do {
                let more = try await relayBatch()
                backoff = .milliseconds(250)
                try? await recordLag()
                if more { continue }
                if let doorbell { _ = await doorbell.wait(upTo: .seconds(5)) } else { try await Task.sleep(for: .seconds(1)) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("relay to the vault failed; retrying", metadata: ["error": "\(String(reflecting: error))", "in": "\(backoff)"])
                try? await recordLag()
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(30))
            }
        }
    }

    /// Relays up to 100 events; true when there may be more.
    func relayBatch() async throws -> Bool {
        try await database.withTransaction(logger: logger) { connection -> Bool in
            guard let position = try await store.lockPosition(on: connection) else { return false }
            let events = try await store.events(after: position, limit: 100, on: connection)
            guard !events.isEmpty else { return false }
            var through = position
            // One span for a pass that relays something (tracing on): its calls to the vault are its children.
            try await withDeliverySpan("vault relay", count: events.count) { _ in
                for event in events {
                    if Self.accountEvents.contains(event.type), let id = Self.userID(event.body) {
                        do {
                            try await relay(id)
                        } catch {
                            // Keep what was relayed; this event is retried first next time.
                            if through > position { try await store.advance(to: through, on: connection) }
                            throw error
                        }
                    }
                    through = event.id
                }
            }
            if through > position { try await store.advance(to: through, on: connection) }
            return events.count == 100
        }
    }

    static func userID(_ body: String) -> UUID? {
        guard case .object(let object)? = try? JSONParser.parse(Array(body.utf8)) else { return nil }
        return object["userId"]?.stringValue.flatMap(UUID.init(uuidString:))
    }

    /// The account as it is now, sent whole.
    func relay(_ id: UUID) async throws {
        guard let user = try await users.find(id: id) else { return }
        let body = ProvisionVaultUser.Body(
            username: Self.username(user.email), email: user.email, emailVerified: user.isEnabled && !user.prototype,
            disabled: !user.isEnabled || user.prototype, roles: user.roles, locale: user.locale)
        _ = try await peers.send(ProvisionVaultUser(tenant: tenant, externalID: user.idString, body: body), logger: logger)
    }

    /// The vault's usernames are letters, digits and `_.@-`: the email, with anything
    /// else as `_`.
    static func username(_ email: String) -> String {
        String(email.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber || "_.@-".contains($0)) ? $0 : "_" }.prefix(128))
    }

    func recordLag() async throws {
        let (events, seconds) = try await store.lag(database: database)
        lagEvents.set(events)
        lagSeconds.set(seconds)
    }
}

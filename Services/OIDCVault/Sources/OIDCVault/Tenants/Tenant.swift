import Foundation
import SuiteCore

/// A tenant: an issuer with its own clients, users and login rules. Its settings are the
/// seed's document, defaults filled in, kept whole.
struct Tenant: Sendable {
    let id: String
    var settings: [String: JSONValue]

    /// A row's settings, as PostgreSQL gives the jsonb back as text.
    init(id: String, settingsJSON: String) {
        self.id = id
        settings = (try? JSONParser.parse(Array(settingsJSON.utf8)))?.objectValue ?? [:]
    }

    init(id: String, settings: [String: JSONValue]) {
        self.id = id
        self.settings = settings
    }

    static func isValidID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && Pattern.identifier.matches(id)
    }

    var json: JSONValue {
        var members = settings
        members["tenant_id"] = .string(id)
        return .object(members)
    }

    var registerEnable: Bool { settings["register_enable"]?.boolValue ?? false }
    var hasUsernameAndEmail: Bool { settings["has_username_and_email"]?.boolValue ?? true }
    var blockConfig: BlockConfig { BlockConfig(settings["block_config"]) }

    /// What a login page may see of the tenant (`/clients/public/tenant`).
    var publicJSON: JSONValue {
        var members = settings
        members["block_config"] = nil
        members["is_2fa"] = nil
        members["tenant_id"] = .string(id)
        return .object(members)
    }

    struct BlockConfig: Sendable, Equatable {
        var ipAttemptsLimit = 5
        var ipAttemptsResetMinutes = 10_080
        var userAttemptsLimit = 15
        var userTimeframeSeconds = 300
        var initialBlockSeconds = 60
        var maxBlockTimeMinutes = 2_880

        init(_ value: JSONValue? = nil) {
            guard let value else { return }
            ipAttemptsLimit = value["ip_attempts_limit"]?.intValue ?? ipAttemptsLimit
            ipAttemptsResetMinutes = value["ip_attempts_reset_minutes"]?.intValue ?? ipAttemptsResetMinutes
            userAttemptsLimit = value["user_attempts_limit"]?.intValue ?? userAttemptsLimit
            userTimeframeSeconds = value["user_timeframe_seconds"]?.intValue ?? userTimeframeSeconds
            initialBlockSeconds = value["initial_block_seconds"]?.intValue ?? initialBlockSeconds
            maxBlockTimeMinutes = value["max_block_time_minutes"]?.intValue ?? maxBlockTimeMinutes
        }

        var json: JSONValue {
            [
                "ip_attempts_limit": .number(Double(ipAttemptsLimit)),
                "ip_attempts_reset_minutes": .number(Double(ipAttemptsResetMinutes)),
                "user_attempts_limit": .number(Double(userAttemptsLimit)),
                "user_timeframe_seconds": .number(Double(userTimeframeSeconds)),
                "initial_block_seconds": .number(Double(initialBlockSeconds)),
                "max_block_time_minutes": .number(Double(maxBlockTimeMinutes)),
            ]
        }
    }

    static let defaultLiveness: JSONValue = [
        "number_steps_min": 4, "number_steps_max": 6, "duration_in_seconds": 10, "number_of_allowed_failures": 1,
        "gesture_set": ["blink", "turn_left", "turn_right", "smile"], "number_blinks_max": 0, "number_blinks_min": 10000,
    ]

    enum LoginMethod: String, CaseIterable {
        case pin = "PIN", pattern = "PATTERN"
    }

    /// The settings of a create or replace: every field of the seed, missing ones at their
    /// defaults (`previous` keeps what the update schema does not carry, `is_2fa`).
    static func settings(from fields: inout Fields, previous: [String: JSONValue]? = nil) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        func flag(_ name: String, _ fallback: Bool) {
            out[name] = .bool(fields.bool(name) ?? fallback)
        }
        flag("register_enable", false)
        flag("is_2fa", previous?["is_2fa"]?.boolValue ?? false)
        flag("use_pin", true)
        out["pin_size"] = .number(Double(fields.int("pin_size", range: 4...12) ?? 6))
        flag("use_pattern", true)
        out["patter_size"] = .number(Double(fields.int("patter_size", range: 3...9) ?? 3))
        flag("use_face_recognition", false)
        flag("use_liveness", false)
        flag("show_pin_when_typing", true)
        flag("passkey_enabled", false)
        flag("has_username_and_email", true)
        // Passkeys: the RP ID (a registrable domain of the login page) and the origins
        // allowed; unset, those of VAULT_LOGIN_UI_URL and of the vault.
        if let rpID = fields.string("webauthn_rp_id", required: false, nullable: true, max: 253) {
            out["webauthn_rp_id"] = .string(rpID)
        } else if let previous = previous?["webauthn_rp_id"] {
            out["webauthn_rp_id"] = previous
        }
        if let origins = fields.strings("webauthn_origins", maxCount: 20, maxLength: 256, nullable: true) {
            out["webauthn_origins"] = .array(origins.map(JSONValue.string))
        } else if let previous = previous?["webauthn_origins"] {
            out["webauthn_origins"] = previous
        }
        // The client-reported bit error rate above which an image login needs the step-up;
        // unset, VAULT_BER_SOFT_LIMIT_PERCENT.
        if let limit = fields.int("ber_soft_limit_percent", range: 0...100, nullable: true) {
            out["ber_soft_limit_percent"] = .number(Double(limit))
        } else if let previous = previous?["ber_soft_limit_percent"] {
            out["ber_soft_limit_percent"] = previous
        }
        out["display_name"] = .string(fields.string("display_name", required: previous != nil, max: 256) ?? "")
        var block = BlockConfig()
        if let config = fields.object("block_config", nullable: true) {
            var nested = Fields(config, location: "body")
            let limits: [(String, ClosedRange<Int>, WritableKeyPath<BlockConfig, Int>)] = [
                ("ip_attempts_limit", 1...10_000, \.ipAttemptsLimit),
                ("ip_attempts_reset_minutes", 1...525_600, \.ipAttemptsResetMinutes),
                ("user_attempts_limit", 1...10_000, \.userAttemptsLimit),
                ("user_timeframe_seconds", 1...31_536_000, \.userTimeframeSeconds),
                ("initial_block_seconds", 1...86_400, \.initialBlockSeconds),
                ("max_block_time_minutes", 1...525_600, \.maxBlockTimeMinutes),
            ]
            for (name, range, path) in limits {
                if let value = nested.int(name, range: range) { block[keyPath: path] = value }
            }
            fields.absorb(nested, under: "block_config")
        }
        out["block_config"] = block.json
        if let order = fields.strings("login_order", maxCount: 2, nullable: true) {
            if order.allSatisfy({ LoginMethod(rawValue: $0) != nil }) {
                out["login_order"] = .array(order.map { .string($0) })
            } else {
                fields.problem("login_order", "Input should be 'PIN' or 'PATTERN'", type: "enum")
            }
        } else {
            out["login_order"] = ["PIN"]
        }
        if let liveness = fields.object("liveness_config", nullable: true) {
            var nested = Fields(liveness)
            var members = Tenant.defaultLiveness.objectValue!
            for name in ["number_steps_min", "number_steps_max", "duration_in_seconds", "number_of_allowed_failures", "number_blinks_max", "number_blinks_min"] {
                if let value = nested.int(name, range: 0...100_000) { members[name] = .number(Double(value)) }
            }
            if let gestures = nested.strings("gesture_set", maxCount: 32, maxLength: 64) { members["gesture_set"] = .array(gestures.map { .string($0) }) }
            fields.absorb(nested, under: "liveness_config")
            out["liveness_config"] = .object(members)
        } else {
            out["liveness_config"] = .null
        }
        return out
    }
}

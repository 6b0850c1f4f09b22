import Foundation
import Hummingbird
import HummingbirdBcrypt
import NIOPosix
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// The second factor a login flagged `need_verify` must pass before it becomes a code:
/// the PIN or the pattern the tenant offers (`use_pin`, `pin_size`, `use_pattern`,
/// `patter_size`). A user sets them once logged in (`PUT /auth/step-up`); a login proves
/// one with its nonce (`POST /auth/step-up?auth_req_id=`). Both are bcrypt hashes at rest,
/// checked on the thread pool, and wrong answers count against the tenant's
/// `block_config` like wrong images do.
struct StepUpRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<VaultContext>, access: RouteAccess) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        admin.put("auth/step-up") { request, context in try await enrol(request, context) }
        // Verifying a step-up is part of the login: the auth request and its nonce are the credentials.
        access.open(router) {
            router.post("auth/step-up") { request, context in try await verify(request, context) }
        }
    }

    /// A pattern is the path over a 3×3 grid, cells 0–8, each at most once.
    static func patternText(_ value: JSONValue?, minimum: Int) -> String? {
        guard let cells = value?.arrayValue, cells.count >= minimum, cells.count <= 9 else { return nil }
        var seen = Set<Int>()
        var text = ""
        for cell in cells {
            guard let index = cell.intValue, (0...8).contains(index), seen.insert(index).inserted else { return nil }
            text += String(index)
        }
        return text
    }

    static func isPIN(_ pin: String, size: Int) -> Bool {
        pin.utf8.count == size && pin.utf8.allSatisfy { (0x30...0x39).contains($0) }
    }

    func enrol(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        let (tenantID, userID) = try principal.requireUser()
        let tenant = try await vault.tenants.require(tenantID)
        var fields = Fields(try await request.jsonObject(context: context))
        let pin = fields.string("pin", required: false, max: 32)
        let pinSize = tenant.settings["pin_size"]?.intValue ?? 6
        let patternSize = tenant.settings["patter_size"]?.intValue ?? 3
        if let pin, !Self.isPIN(pin, size: pinSize) {
            fields.problem("pin", "The PIN must be \(pinSize) digits", type: "value_error")
        }
        let pattern = fields.values["pattern"].map { Self.patternText($0, minimum: patternSize) }
        if let pattern, pattern == nil {
            fields.problem("pattern", "The pattern must be at least \(patternSize) distinct cells of 0 to 8", type: "value_error")
        }
        if pin == nil, pattern == nil, fields.problems.isEmpty {
            fields.problem("pin", "Give a pin, a pattern or both", type: "missing")
        }
        try fields.check()
        let cost = UInt8(vault.settings.bcryptCost)
        let pinHash = try await pin.asyncMap { pin in try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(pin, cost: cost) } }
        let patternHash = try await (pattern ?? nil).asyncMap { text in try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(text, cost: cost) } }
        try await vault.users.setStepUp(tenant: tenantID, userID: userID, pinHash: pinHash, patternHash: patternHash)
        let factors = try await vault.users.stepUpFactors(tenant: tenantID, userID: userID)
        return .json(["pin": .bool(factors?.pin != nil), "pattern": .bool(factors?.pattern != nil)])
    }

    static let refused = VaultError.unauthorized("Verification failed")

    func verify(_ request: Request, _ context: VaultContext) async throws -> Response {
        var query = try Fields(query: request)
        // Read first, checked after: `query.checked(query.string(…))` would check the copy
        // of `query` taken before the read recorded its problem.
        let authReqField = query.string("auth_req_id", max: 64)
        let authReqID = try query.checked(authReqField)
        var fields = Fields(try await request.jsonObject(context: context))
        let nonceField = fields.string("nonce", max: 128)
        let methodName = fields.string("method", max: 16)
        let pin = fields.string("pin", required: false, max: 32)
        let pattern = fields.values["pattern"]
        let methodField = methodName.flatMap(Tenant.LoginMethod.init(rawValue:))
        if methodName != nil, methodField == nil {
            fields.problem("method", "Input should be 'PIN' or 'PATTERN'", type: "enum")
        }
        let (nonce, method) = try fields.checked(nonceField, methodField)
        guard let pending = try await vault.users.pendingStepUp(authReqID: authReqID, nonceHash: sha256(nonce)) else {
            throw VaultError.badRequest("Unknown, expired or already used login")
        }
        let tenant = try await vault.tenants.require(pending.tenant)
        guard pending.needVerify else {
            return .json(["nonce": .string(nonce), "need_verify": false])
        }
        let offered: Bool
        let answer: String?
        let stored: String?
        let factors = try await vault.users.stepUpFactors(tenant: tenant.id, userID: pending.userID)
        switch method {
        case .pin:
            offered = tenant.settings["use_pin"]?.boolValue ?? true
            answer = pin
            stored = factors?.pin
        case .pattern:
            offered = tenant.settings["use_pattern"]?.boolValue ?? true
            answer = pattern.flatMap { Self.patternText($0, minimum: 1) }
            stored = factors?.pattern
        }
        guard offered else { throw VaultError.forbidden("The tenant does not offer \(method.rawValue)") }
        guard let stored else {
            throw VaultError.forbidden("The user has no \(method.rawValue) to verify with")
        }
        let ip = request.clientAddress(context: context)
        try await vault.lockout.reserve(tenant: tenant, ip: ip, userID: pending.userID)
        let matches: Bool
        if let answer {
            matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(answer, hash: stored) }
        } else {
            matches = false
        }
        guard matches else {
            try await vault.lockout.failed(tenant: tenant, ip: ip, userID: pending.userID)
            try await vault.login.audit(tenant: tenant.id, userID: pending.userID, outcome: "step-up-failed", ip: ip, ber: nil, logData: nil)
            throw Self.refused
        }
        try await vault.lockout.succeeded(tenant: tenant, ip: ip, userID: pending.userID)
        try await vault.users.completeStepUp(authReqID: authReqID)
        try await vault.login.audit(tenant: tenant.id, userID: pending.userID, outcome: "step-up", ip: ip, ber: nil, logData: nil)
        return .json(["nonce": .string(nonce), "need_verify": false])
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

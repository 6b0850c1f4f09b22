import Foundation
import Hummingbird
import Logging
import SuiteContracts
import SuiteCore
import SuiteHTTP

/// The rooms of the External API.
struct RoomRoutes: Sendable {
    let delegation: Delegation
    let rooms: RoomStore
    let settings: MeetSettings
    let rateLimiter: RateLimiter
    /// `PUBLIC_URL` + `/v1.0`: `next` and `previous` are absolute.
    let baseURL: String

    static let createByApplication = RateLimit(name: "meet-rooms-create", limit: 120, windowSeconds: 60)

    struct Input: Decodable {
        var name: String?
        var access_level: String?
        var configuration: JSONValue?
        var attendees: [String]?

        /// With NUL characters replaced, so anything accepted can be stored.
        var storable: Input {
            Input(
                name: name.map(RoomConfiguration.storable), access_level: access_level,
                configuration: configuration.map(RoomConfiguration.storable), attendees: attendees)
        }
    }

    func list(_ request: Request, _ context: MeetContext) async throws -> Response {
        let claims = try context.claims()
        guard let user = UUID(uuidString: claims.user_id) else { throw MeetError.invalidToken }
        let query = request.uri.queryParameters
        let page: PageRequest
        do {
            page = try PageRequest.parse(page: query["page"].map(String.init), size: query["page_size"].map(String.init))
        } catch {
            // Permission before validation, as DRF answers: a caller without the scope
            // learns nothing about the parameters.
            _ = try await delegation.caller(context, scope: .roomsList)
            throw error
        }
        // The application's standing comes with the page: one round trip, checked before
        // anything is shown.
        async let userChecked: Void = delegation.users.require(user, context: context)
        let found = try await rooms.page(of: user, limit: page.size, offset: page.offset, clientID: claims.client_id)
        _ = try delegation.authorize(claims, standing: delegation.standing(claims, application: found.standing), scope: .roomsList)
        try await userChecked
        // DRF's page number pagination: a page past the last (but the first) is not found.
        if page.page > 1, page.offset >= found.count { throw MeetError.invalidPage }
        func link(_ number: Int) -> String { "\(baseURL)/rooms?page=\(number)&page_size=\(page.size)" }
        var out: [UInt8] = []
        out.reserveCapacity(160 + found.json.count)
        out.append(contentsOf: Array(#"{"count":"#.utf8) + Array(String(found.count).utf8) + Array(#","next":"#.utf8))
        if page.offset + found.rooms.count < found.count { CanonicalJSON.writeString(link(page.page + 1), into: &out) } else { out.append(contentsOf: Array("null".utf8)) }
        out.append(contentsOf: Array(#","previous":"#.utf8))
        if page.page > 1 {
            CanonicalJSON.writeString(link(min(page.page - 1, max(1, (found.count + page.size - 1) / page.size))), into: &out)
        } else {
            out.append(contentsOf: Array("null".utf8))
        }
        out.append(contentsOf: Array(#","results":"#.utf8))
        out.append(contentsOf: found.json)
        out.append(UInt8(ascii: "}"))
        return Response.json(bytes: out)
    }

    func create(_ request: Request, _ context: MeetContext) async throws -> Response {
        let caller = try await delegation.caller(context, scope: .roomsCreate)
        // `id`, `name`, `slug` and `access_level` are read-only, as in La Suite Meet: a
        // room made through the API is `trusted` and named by its slug.
        let input = (try await request.decodeJSONIfPresent(as: Input.self, context: context) ?? Input()).storable
        var errors: [String: [String]] = [:]
        if let configuration = input.configuration {
            let problems = RoomConfiguration.problems(configuration)
            if !problems.isEmpty { errors["configuration"] = problems }
        }
        if input.attendees != nil { errors["attendees"] = ["Add attendees with PATCH /rooms/{id} once the room exists."] }
        if !errors.isEmpty { throw MeetError.fields(errors) }
        try await rateLimiter.enforce([(Self.createByApplication, caller.clientID)])

        let slug = Slug.make()
        let draft = Room(
            id: UUID(), slug: slug, name: slug, accessLevel: "trusted",
            configuration: input.configuration ?? .object([:]),
            pinCode: settings.telephony == nil ? nil : Slug.pin(length: settings.pinLength),
            createdByApplication: caller.clientID, createdAt: Date(), attendees: [])
        let room = try await rooms.create(draft, owner: caller.userID, pinLength: settings.telephony == nil ? nil : settings.pinLength)
        context.logger.notice(
            "audit: room created",
            metadata: ["client_id": "\(caller.clientID)", "user_id": "\(caller.userID)", "room_id": "\(room.id)"])
        return Response.json(room.json(settings: settings), status: .created)
    }

    private func validate(accessLevel: String?, errors: inout [String: [String]]) throws -> String? {
        guard let accessLevel else { return nil }
        guard Room.accessLevels.contains(accessLevel) else {
            errors["access_level"] = ["\"\(accessLevel)\" is not a valid choice."]
            return nil
        }
        if accessLevel == "public" && !settings.allowPublicRooms {
            errors["access_level"] = ["Public rooms cannot be made through the External API."]
            return nil
        }
        return accessLevel
    }

    func retrieve(_ request: Request, _ context: MeetContext) async throws -> Response {
        let caller = try await delegation.caller(context, scope: .roomsRetrieve)
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)),
            let (room, role) = try await rooms.room(id, for: caller.userID)
        else { throw MeetError.notFound }
        guard role != nil else { throw MeetError.notAllowed }
        return Response.json(room.json(settings: settings))
    }

    func attendees(_ request: Request, _ context: MeetContext) async throws -> Response {
        let caller = try await delegation.caller(context, scope: .roomsRetrieve)
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)),
            let (_, role) = try await rooms.room(id, for: caller.userID)
        else { throw MeetError.notFound }
        guard role != nil else { throw MeetError.notAllowed }
        let results: [JSONValue] = try await rooms.attendees(of: id).map { attendee in
            [
                "email": .string(attendee.email), "added_at": .string(Room.iso(attendee.addedAt)),
                "invited": .bool(attendee.invitedAt != nil), "invited_at": attendee.invitedAt.map { .string(Room.iso($0)) } ?? .null,
            ]
        }
        return Response.json(["count": .number(Double(results.count)), "results": .array(results)])
    }

    /// The owner or an administrator changes the name, access level, configuration or
    /// attendees (the whole list: new addresses are invited, removed ones dropped).
    func update(_ request: Request, _ context: MeetContext) async throws -> Response {
        let caller = try await delegation.caller(context, scope: .roomsUpdate)
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw MeetError.notFound }
        let input = (try await request.decodeJSONIfPresent(as: Input.self, context: context) ?? Input()).storable
        var errors: [String: [String]] = [:]
        let accessLevel = try validate(accessLevel: input.access_level, errors: &errors)
        if let configuration = input.configuration {
            let problems = RoomConfiguration.problems(configuration)
            if !problems.isEmpty { errors["configuration"] = problems }
        }
        if let name = input.name, name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || !RoomConfiguration.isPlainText(name, max: 500) {
            errors["name"] = ["Ensure this field has between 1 and 500 characters ."]
        }
        var attendees: [String]?
        if let list = input.attendees {
            var normalised: [String] = []
            var bad: [String] = []
            for email in list {
                if Validate.isEmail(email.trimmingCharacters(in: .whitespaces)) {
                    let lower = Validate.normalizedEmail(email)
                    if !normalised.contains(lower) { normalised.append(lower) }
                } else {
                    bad.append("\"\(email)\" is not a valid email address.")
                }
            }
            if list.count > 200 { bad.append("Ensure this field has no more than 200 elements.") }
            if !bad.isEmpty { errors["attendees"] = bad }
            attendees = normalised
        }
        if !errors.isEmpty { throw MeetError.fields(errors) }

        let settings = self.settings
        let change = RoomStore.Change(
            name: input.name?.trimmingCharacters(in: .whitespacesAndNewlines), accessLevel: accessLevel,
            configuration: input.configuration, attendees: attendees)
        let outcome = try await rooms.update(id, by: caller.userID, roles: ["owner", "administrator"], change: change) { room, added in
            RoomInvitation(
                room_id: room.id.uuidString.lowercased(), room_name: change.name ?? room.name,
                room_url: settings.roomBaseURL + "/" + room.slug, emails: added)
        }
        let updated: Room
        switch outcome {
        case .updated(let room): updated = room
        case .notFound: throw MeetError.notFound
        case .notAllowed: throw MeetError.notAllowed
        }
        context.logger.notice(
            "audit: room updated", metadata: ["client_id": "\(caller.clientID)", "user_id": "\(caller.userID)", "room_id": "\(id)"])
        // The answer shows the attendees, which the update may have changed.
        var answer = updated.json(settings: settings)
        if case .object(var members) = answer {
            members["attendees"] = .array(updated.attendees.map(JSONValue.string))
            answer = .object(members)
        }
        return Response.json(answer)
    }

    /// Only rooms this application created, and only by their owner.
    func delete(_ request: Request, _ context: MeetContext) async throws -> Response {
        let caller = try await delegation.caller(context, scope: .roomsDelete)
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)),
            let (room, role) = try await rooms.room(id, for: caller.userID)
        else { throw MeetError.notFound }
        guard role != nil else { throw MeetError.notAllowed }
        guard room.createdByApplication == caller.clientID, role == "owner" else { throw MeetError.notAllowed }
        try await rooms.delete(id)
        context.logger.notice(
            "audit: room deleted", metadata: ["client_id": "\(caller.clientID)", "user_id": "\(caller.userID)", "room_id": "\(id)"])
        return Response(status: .noContent)
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

extension RoomStore {
    /// The JSON array of a page of rooms, as `GET /rooms` shows it.
    static func render(_ rooms: [Room], settings: MeetSettings) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(2 + 400 * rooms.count)
        for (index, room) in rooms.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            room.write(into: &out, settings: settings)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}

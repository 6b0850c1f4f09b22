public import NIOHTTP1
public import SuiteHTTP

/// What meet-rooms hands identity-associations for a room's new attendees.
public struct RoomInvitation: Codable, Sendable, Equatable {
    public var room_id: String
    public var room_name: String
    /// Where the invited person joins: an http(s) URL.
    public var room_url: String
    /// At most 200 addresses; each gets one mail per room, however often it is sent.
    public var emails: [String]
    /// The mail's language (`fr`, `es_ES`); the default template's when absent.
    public var locale: String?

    public init(room_id: String, room_name: String, room_url: String, emails: [String], locale: String? = nil) {
        self.room_id = room_id
        self.room_name = room_name
        self.room_url = room_url
        self.emails = emails
        self.locale = locale
    }
}

public struct RoomInvitationResult: Codable, Sendable, Equatable {
    public var invited: [String]
    public var already_invited: [String]

    public init(invited: [String], already_invited: [String]) {
        self.invited = invited
        self.already_invited = already_invited
    }
}

/// `POST /internal/invites` at identity-associations (flow 2), idempotent per (room, email).
public struct InviteAttendees: InternalEndpoint {
    public typealias Answer = RoomInvitationResult
    public static let peer = SuitePeer.identityAssociations
    public static let method = HTTPMethod.POST
    public static let scope = InternalScope.invitesWrite
    public static let route = "/internal/invites"

    public var body: RoomInvitation
    public var path: String { Self.route }

    public init(_ invitation: RoomInvitation) { body = invitation }
}

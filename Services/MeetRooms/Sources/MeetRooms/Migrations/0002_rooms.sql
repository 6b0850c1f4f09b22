-- Applications (the API's clients), rooms, who may use them, attendees, and the
-- invitations still to hand to identity-associations.

CREATE TABLE applications (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    client_id text NOT NULL UNIQUE,
    -- SHA-256 of the secret; the secret itself is shown once.
    secret_hash bytea NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    scopes text[] NOT NULL,
    domains text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rooms (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    access_level text NOT NULL CHECK (access_level IN ('public', 'trusted', 'restricted')),
    configuration jsonb NOT NULL DEFAULT '{}',
    pin_code text UNIQUE,
    created_by_application text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The room's creation time is copied here so a user's rooms come out of one index in
-- listing order, however many rooms there are.
CREATE TABLE room_accesses (
    room_id uuid NOT NULL REFERENCES rooms ON DELETE CASCADE,
    user_id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'administrator', 'member')),
    room_created_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_accesses_user ON room_accesses (user_id, room_created_at DESC, room_id);

CREATE TABLE attendees (
    room_id uuid NOT NULL REFERENCES rooms ON DELETE CASCADE,
    email text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    invited_at timestamptz,
    PRIMARY KEY (room_id, email)
);

-- Calls to identity-associations' /internal/invites, written with the room change and
-- delivered by a worker: a peer that is down delays the invitation, never loses it.
CREATE TABLE invite_outbox (
    id bigserial PRIMARY KEY,
    room_id uuid NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    sent_at timestamptz,
    failed_at timestamptz,
    last_error text
);
CREATE INDEX invite_outbox_due ON invite_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

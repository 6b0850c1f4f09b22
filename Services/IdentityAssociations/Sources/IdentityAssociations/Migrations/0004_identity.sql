-- Validation sessions: one per (medium, address, client_secret), so a repeated
-- requestToken gets the same sid. Addresses are stored folded (emails lowercased,
-- phone numbers as digits), so every comparison is case-insensitive.
CREATE TABLE validation_sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    medium text NOT NULL CHECK (medium IN ('email', 'msisdn')),
    address text NOT NULL,
    client_secret text NOT NULL,
    -- SHA-256 of every token mailed for this session (a reminder does not void the
    -- first mail's link); at most a few.
    token_hashes bytea[] NOT NULL,
    last_send_attempt bigint,
    next_link text,
    validated_at timestamptz,
    failed_attempts integer NOT NULL DEFAULT 0,
    last_requested_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (medium, address, client_secret)
);
-- No index on last_requested_at: the purge scans the table every ten minutes, and an
-- index would cost every requestToken a write.

-- The pepper v2 lookups hash with; published by hash_details.
CREATE TABLE hashing_metadata (
    id integer PRIMARY KEY CHECK (id = 1),
    lookup_pepper text NOT NULL
);
INSERT INTO hashing_metadata (id, lookup_pepper) VALUES (1, replace(gen_random_uuid()::text, '-', ''));

-- Published associations: (medium, address) → mxid. lookup_hash is the v2 sha256 hash
-- of "address medium pepper", unpadded base64url, indexed for hashed lookups.
CREATE TABLE associations (
    medium text NOT NULL,
    address text NOT NULL,
    mxid text NOT NULL,
    lookup_hash text NOT NULL,
    ts bigint NOT NULL,
    not_before bigint NOT NULL,
    not_after bigint NOT NULL,
    -- Lookups read the index alone (index-only scans): the mxid rides along.
    PRIMARY KEY (medium, address) INCLUDE (mxid, ts, not_before, not_after)
);
CREATE INDEX associations_lookup_hash ON associations (lookup_hash) INCLUDE (mxid);

-- Invitations stored for an address nobody has bound yet (store-invite). The token
-- is handed to the inviting homeserver and mailed to the invitee; sign-ed25519 finds
-- the sender by it.
CREATE TABLE pending_invites (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    medium text NOT NULL,
    address text NOT NULL,
    room_id text NOT NULL,
    sender text NOT NULL,
    token text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_to text,
    delivered_at timestamptz
);
CREATE INDEX pending_invites_address ON pending_invites (medium, address) WHERE delivered_at IS NULL;

CREATE TABLE ephemeral_public_keys (
    public_key text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    verify_count bigint NOT NULL DEFAULT 0
);

-- v2 accounts: a Matrix user who registered with an OpenID token from their homeserver.
CREATE TABLE accounts (
    user_id text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE account_tokens (
    token_hash bytea PRIMARY KEY,
    user_id text NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_tokens_user ON account_tokens (user_id);
CREATE TABLE accepted_terms (
    user_id text NOT NULL REFERENCES accounts ON DELETE CASCADE,
    url text NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, url)
);

-- Queued mails are compressed with lz4 where the server has it (much cheaper than the
-- default pglz on the requestToken path); elsewhere the default stays.
DO $$ BEGIN
    ALTER TABLE mail_outbox ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR undefined_object THEN NULL;
END $$;

-- Passkeys (WebAuthn): a user's credentials, and the single-use challenges of
-- registrations and logins, bound to the tenant (and to the user registering).
CREATE TABLE passkeys (
    tenant_id text NOT NULL,
    credential_id bytea NOT NULL,
    key_id text NOT NULL,
    user_id text NOT NULL,
    name text NOT NULL DEFAULT '',
    public_key bytea NOT NULL,
    algorithm integer NOT NULL,
    sign_count bigint NOT NULL DEFAULT 0,
    transports text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    last_use jsonb,
    PRIMARY KEY (tenant_id, credential_id),
    UNIQUE (tenant_id, key_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX passkeys_by_user ON passkeys (tenant_id, user_id);

CREATE TABLE webauthn_challenges (
    challenge_hash bytea PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text,
    purpose text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);

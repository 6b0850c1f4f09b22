-- Accounts, their one-use secrets, refresh-token families and the domain event store.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text NOT NULL CHECK (email = lower(btrim(email))),
    fullname text NOT NULL,
    locale text NOT NULL,
    roles text[] NOT NULL DEFAULT '{}',
    password_hash text,
    is_enabled boolean NOT NULL,
    prototype boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_authentication_at timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_roles ON users USING gin (roles);
CREATE INDEX users_created ON users (created_at, id);

-- Secrets are kept as SHA-256 digests only.
CREATE TABLE activations (
    code_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX activations_user ON activations (user_id);

CREATE TABLE invitations (
    id_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    redeemed_at timestamptz,
    mail_id bigint
);
CREATE INDEX invitations_user ON invitations (user_id);

CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    request_id uuid NOT NULL UNIQUE,
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id);

CREATE TABLE email_changes (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    new_email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX email_changes_user ON email_changes (user_id);

-- One row per refresh token issued. A token may be used once; using a used one again
-- revokes its whole family (every token descended from the same login).
CREATE TABLE refresh_tokens (
    id uuid PRIMARY KEY,
    family uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    impersonator_id uuid,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Event ids come from one counter row updated in the writer's transaction: a rolled
-- back change gives its number back, so ids are gap-free and increase in commit order
-- of the counter lock (a reader paging by id never misses an event).
CREATE TABLE event_counter (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id bigint NOT NULL
);
INSERT INTO event_counter VALUES (true, 0);

CREATE TABLE domain_events (
    id bigint PRIMARY KEY,
    type_name text NOT NULL,
    occurred_on timestamptz NOT NULL,
    event_body text NOT NULL
);
CREATE INDEX domain_events_type ON domain_events (type_name, id);

-- Tenants, clients, users, API keys, the zero-knowledge login and the OpenID Connect
-- provider's state. Everything replicas share lives here: keys, challenges, codes,
-- sessions, refresh tokens, revocations and lockout counters.

-- A tenant's settings are the seed's document (pins, patterns, liveness, block_config…),
-- validated by the service; PostgreSQL keeps it whole.
CREATE TABLE tenants (
    tenant_id text PRIMARY KEY,
    settings jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clients (
    tenant_id text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    client_id text NOT NULL,
    -- Everything but the secret, as the admin API shows it.
    document jsonb NOT NULL,
    -- SHA-256 of the secret of a confidential client; shown once at creation.
    secret_hash bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, client_id)
);

CREATE TABLE users (
    tenant_id text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id text NOT NULL,
    username text NOT NULL,
    email text NOT NULL,
    -- Set when the tenant requires unique emails at the time of writing.
    email_unique boolean NOT NULL DEFAULT true,
    is_disabled boolean NOT NULL DEFAULT false,
    is_verified boolean NOT NULL DEFAULT false,
    locale text,
    roles text[] NOT NULL DEFAULT '{}',
    external_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The zero-knowledge credential: an Ed25519 public key, the helper data sealed
    -- under the server's key, and the code parameters. Never the image or its key.
    public_key bytea,
    helper_sealed bytea,
    credential jsonb,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE UNIQUE INDEX users_username ON users (tenant_id, lower(username));
CREATE UNIQUE INDEX users_email ON users (tenant_id, lower(email)) WHERE email_unique;
CREATE INDEX users_created ON users (tenant_id, created_at, user_id);

CREATE TABLE api_keys (
    key_id uuid PRIMARY KEY,
    key_hash bytea NOT NULL UNIQUE,
    tenant_id text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id text,
    name text NOT NULL DEFAULT '',
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created jsonb NOT NULL,
    last_use jsonb,
    is_active boolean NOT NULL DEFAULT true
);
CREATE INDEX api_keys_owner ON api_keys (tenant_id, user_id);

-- Signing keys (EdDSA, RS256) and the X25519 encryption key clients seal commitments
-- to. The newest active key of each kind signs; retired keys stay published until
-- `published_until`, when every token they signed has expired.
CREATE TABLE signing_keys (
    kid text PRIMARY KEY,
    alg text NOT NULL CHECK (alg IN ('EdDSA', 'RS256', 'ECDH-ES')),
    private_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    published_until timestamptz
);

-- An authorization request, from /authorize until its code is issued.
CREATE TABLE auth_requests (
    auth_req_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    client_id text NOT NULL,
    redirect_uri text NOT NULL,
    scope text NOT NULL,
    state text,
    nonce text,
    code_challenge text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Filled by a successful authenticate; the login nonce is single use.
    user_id text,
    login_nonce_hash bytea,
    authenticated_at timestamptz,
    need_verify boolean NOT NULL DEFAULT false,
    completed_at timestamptz
);
CREATE INDEX auth_requests_expiry ON auth_requests (expires_at);

CREATE TABLE challenges (
    challenge_id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text NOT NULL,
    auth_req_id text,
    purpose text NOT NULL,
    nonce bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    consumed_at timestamptz
);
CREATE INDEX challenges_expiry ON challenges (expires_at);

-- Audit of each authentication: the client's BER and log data, never image features.
CREATE TABLE login_audit (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text,
    at timestamptz NOT NULL DEFAULT now(),
    outcome text NOT NULL,
    ip text,
    ber jsonb,
    log_data jsonb
);
CREATE INDEX login_audit_user ON login_audit (tenant_id, user_id, at);

-- Failed attempts per tenant and IP or user; blocks grow on repeat offence.
CREATE TABLE lockouts (
    tenant_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('ip', 'user')),
    subject text NOT NULL,
    failures integer NOT NULL DEFAULT 0,
    window_start timestamptz NOT NULL DEFAULT now(),
    blocked_at timestamptz,
    blocked_until timestamptz,
    block_seconds integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, kind, subject)
);
CREATE INDEX lockouts_blocked ON lockouts (tenant_id, kind, blocked_at) WHERE blocked_until IS NOT NULL;

CREATE TABLE sessions (
    session_id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text NOT NULL,
    client_id text NOT NULL,
    auth_time timestamptz NOT NULL,
    created jsonb NOT NULL,
    token_issue jsonb,
    last_access jsonb,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE authorization_codes (
    code_hash bytea PRIMARY KEY,
    auth_req_id text NOT NULL,
    tenant_id text NOT NULL,
    client_id text NOT NULL,
    user_id text NOT NULL,
    session_id uuid NOT NULL,
    redirect_uri text NOT NULL,
    scope text NOT NULL,
    nonce text,
    code_challenge text,
    auth_time timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    consumed_at timestamptz
);

-- Refresh tokens rotate: each use makes a new one in the same family. Using a spent
-- token again (past the grace) revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    family_id uuid NOT NULL,
    tenant_id text NOT NULL,
    client_id text NOT NULL,
    user_id text,
    session_id uuid,
    scope text NOT NULL,
    auth_time timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    successor jsonb,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Access tokens are JWTs; a revoked one is listed by its jti until it would expire.
CREATE TABLE revoked_tokens (
    jti text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE TABLE password_resets (
    code_hash bytea PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text NOT NULL,
    expires_at timestamptz NOT NULL,
    consumed_at timestamptz
);

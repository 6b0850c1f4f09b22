-- The issuer an authorization request was made under: the tenant's, or the root's for
-- the default tenant reached at the root (its `iss` goes back with the code).
ALTER TABLE auth_requests ADD COLUMN issuer text;

-- A user's second factors for `need_verify` (the tenant's `use_pin`/`use_pattern`):
-- bcrypt hashes, never the PIN or the pattern.
ALTER TABLE users ADD COLUMN pin_hash text, ADD COLUMN pattern_hash text;

-- Whether a subject's last attempt was refused unverified (blocked, or its window full):
-- such attempts are not counted, and their Retry-After is the window's end.
ALTER TABLE lockouts ADD COLUMN refused boolean NOT NULL DEFAULT false;

-- SCIM `userName sw "…"` (a prefix search) as a range over lower(username) in code point
-- order (SCIMUserQuery): without it, a prefix scanned every user of the tenant.
CREATE INDEX users_username_prefix ON users (tenant_id, (lower(username)) COLLATE "C");

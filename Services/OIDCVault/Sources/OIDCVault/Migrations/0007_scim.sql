-- SCIM 2.0: the core attributes a provisioning client sends beyond the user's own
-- columns (name, displayName…), and groups, which map to roles: a group's members are
-- the tenant's users holding the role its display name names.
ALTER TABLE users ADD COLUMN scim_attributes jsonb;

CREATE TABLE scim_groups (
    tenant_id text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    group_id text NOT NULL,
    display_name text NOT NULL,
    external_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_id)
);
CREATE UNIQUE INDEX scim_groups_name ON scim_groups (tenant_id, display_name);
CREATE INDEX users_roles ON users USING gin (roles);
CREATE INDEX users_lower_username ON users (tenant_id, lower(username));

-- The schema belongs to oidc-vault; its tables arrive with the features that need them.
DO $$ BEGIN
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', current_schema(), 'oidc-vault: OpenID Connect provider with tenants, clients and zero-knowledge image login.');
END $$;

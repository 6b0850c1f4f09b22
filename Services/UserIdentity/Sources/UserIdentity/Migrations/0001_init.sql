-- The schema belongs to user-identity; its tables arrive with the features that need them.
DO $$ BEGIN
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', current_schema(), 'user-identity: Accounts, credentials, roles, profiles and documents.');
END $$;

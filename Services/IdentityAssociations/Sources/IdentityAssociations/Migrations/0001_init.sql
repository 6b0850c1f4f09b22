-- The schema belongs to identity-associations; its tables arrive with the features that need them.
DO $$ BEGIN
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', current_schema(), 'identity-associations: Proof that someone owns an email or phone number, and its binding to a Matrix ID.');
END $$;

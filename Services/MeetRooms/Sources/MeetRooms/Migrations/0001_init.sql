-- The schema belongs to meet-rooms; its tables arrive with the features that need them.
DO $$ BEGIN
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', current_schema(), 'meet-rooms: Video-conference rooms, and the third-party applications that manage them for a user.');
END $$;

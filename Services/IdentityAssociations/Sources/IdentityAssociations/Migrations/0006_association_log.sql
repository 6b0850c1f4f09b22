-- Every change to associations, numbered, so each replica can keep an in-memory lookup
-- index and bring it up to date before it answers. Triggers write the log, so bind,
-- unbind, an operator's SQL and an import are all seen alike.
--
-- One counter row numbers the changes: a writing transaction holds its lock until it
-- commits, so when a reader sees generation N, every change up to N is visible too.
CREATE TABLE association_generation (
    id integer PRIMARY KEY CHECK (id = 1),
    value bigint NOT NULL,
    -- Log rows up to here were pruned: a replica behind it reloads everything.
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO association_generation (id, value) VALUES (1, 1);

CREATE TABLE association_log (
    generation bigint NOT NULL,
    medium text NOT NULL,
    address text NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX association_log_generation ON association_log (generation);

-- Statement-level, with transition tables: a bulk import of 100k rows is one
-- generation and one INSERT into the log, not 100k counter updates.
CREATE FUNCTION association_changed() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    next bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM 1 FROM old_rows LIMIT 1;
    ELSE
        PERFORM 1 FROM new_rows LIMIT 1;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE association_generation SET value = value + 1 WHERE id = 1 RETURNING value INTO next;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO association_log (generation, medium, address) SELECT next, medium, address FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO association_log (generation, medium, address)
        SELECT next, medium, address FROM new_rows UNION SELECT next, medium, address FROM old_rows;
    ELSE
        INSERT INTO association_log (generation, medium, address) SELECT next, medium, address FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER associations_inserted AFTER INSERT ON associations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION association_changed();
CREATE TRIGGER associations_updated AFTER UPDATE ON associations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION association_changed();
CREATE TRIGGER associations_deleted AFTER DELETE ON associations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION association_changed();

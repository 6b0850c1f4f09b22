-- Outbox wake-up (SuitePostgres.OutboxListener): a statement that queued messages
-- notifies 'suite_outbox' with '<schema>.<table>'; PostgreSQL delivers it at commit, to
-- every replica's listener, which wakes the table's worker at once.
CREATE OR REPLACE FUNCTION suite_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('suite_outbox', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER mail_outbox_notify AFTER INSERT ON mail_outbox
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION suite_outbox_notify();

-- The outbox's age is exported (suite_outbox_oldest_pending_age_seconds), as every other
-- outbox's is: it needs the time a message was queued. Rows queued before this migration
-- count from it.
ALTER TABLE invite_outbox ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

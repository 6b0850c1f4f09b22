-- Flow 4: how far the domain events have been relayed to the vault (one row), and a
-- wake-up on each commit of events (the same notification as the outboxes').
CREATE TABLE vault_relay (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    relayed_through bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO vault_relay (id) VALUES (1);

CREATE TRIGGER domain_events_notify AFTER INSERT ON domain_events
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION suite_outbox_notify();

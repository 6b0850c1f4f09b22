CREATE TABLE onbind_outbox (
    id bigserial PRIMARY KEY,
    server text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    sent_at timestamptz,
    failed_at timestamptz,
    last_error text
);
CREATE INDEX onbind_outbox_due ON onbind_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
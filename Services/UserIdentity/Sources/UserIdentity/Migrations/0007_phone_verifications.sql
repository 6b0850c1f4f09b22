-- Phone verifications (POST /phone-verifications and …/check). With the built-in
-- provider the code's hash is kept here; with Twilio Verify the provider keeps the code
-- and `id` is its verification sid.
CREATE TABLE phone_verifications (
    id text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    phone text NOT NULL,
    channel text NOT NULL,
    code_hash bytea,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX phone_verifications_pending ON phone_verifications (user_id, phone, created_at DESC) WHERE status = 'pending';
CREATE INDEX phone_verifications_expiry ON phone_verifications (expires_at);

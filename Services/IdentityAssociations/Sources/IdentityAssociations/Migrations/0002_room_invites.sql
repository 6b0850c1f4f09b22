-- Invitations to video rooms that meet-rooms hands over: one per (room, email), so a
-- retried call mails nobody twice.
CREATE TABLE room_invites (
    room_id uuid NOT NULL,
    email text NOT NULL,
    room_name text NOT NULL,
    room_url text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    mail_id bigint,
    PRIMARY KEY (room_id, email)
);

-- A user's profile (GET/PUT /profiles/me): one validated JSON document per user.
CREATE TABLE profiles (
    user_id uuid PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    document jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Documents a user uploaded to the bucket and saved (POST /me/documents). Unlinking
-- deletes the row; the object stays in the bucket, as the seed says.
CREATE TABLE documents (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    file_path text NOT NULL UNIQUE,
    document_type text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_by_user ON documents (user_id, uploaded_at, id);

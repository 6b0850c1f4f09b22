-- A refresh token's successor is derived (HMAC of the token under the at-rest key), so
-- a reuse within the grace gets the same one without it being stored, sealed or not.
ALTER TABLE refresh_tokens DROP COLUMN successor;

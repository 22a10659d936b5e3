DROP TABLE refresh_token_spent;
ALTER TABLE users DROP COLUMN sessions_revoked_at;

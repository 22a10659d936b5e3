-- Initial access tokens for dynamic client registration (RFC 7591 §3), PostgreSQL dialect.
-- Only the SHA-256 of a token is kept; "id" is a public handle for listing and revoking.
-- (keep migrations/sqlite in step with this file)

CREATE TABLE initial_access_tokens (
    id         TEXT    PRIMARY KEY,
    token_hash TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    -- NULL: never expires.
    expires_at BIGINT,
    -- NULL: unlimited registrations.
    max_uses   INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
    uses       INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT initial_access_tokens_token_hash_key UNIQUE (token_hash)
);

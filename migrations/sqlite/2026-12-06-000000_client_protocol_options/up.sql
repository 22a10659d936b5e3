-- Sender-constrained tokens, pushed requests and resource indicators (issue 17).
-- SQLite dialect. Keep migrations/postgres in step.

-- RFC 9449 §5.2: every access token of the client is DPoP-bound.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
-- RFC 9126 §6: the client's authorization requests must be pushed (/par) first.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
-- RFC 8707: the resource indicators the client may ask for, a JSON array like scopes.
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';

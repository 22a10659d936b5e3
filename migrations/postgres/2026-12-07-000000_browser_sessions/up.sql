-- The durable index of browser login sessions (issue 18), PostgreSQL dialect.
-- Keep migrations/sqlite in step.

-- A session itself lives in the ephemeral store under session_key ('session:' + the SHA-256
-- of its cookie); this row lets its user list and end it. handle is a random public name,
-- neither the cookie nor its hash. Rows are written at sign-in, touched at most once a minute,
-- deleted at sign-out, and purged once expired.
CREATE TABLE browser_sessions (
    handle        TEXT   PRIMARY KEY,
    user_id       TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_key   TEXT   NOT NULL UNIQUE,
    user_agent    TEXT,
    client_ip     TEXT,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user_idx ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires_idx ON browser_sessions (expires_at);

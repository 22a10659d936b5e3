-- Second factors, passkeys, recovery codes and MFA policy (issue 14),
-- PostgreSQL dialect. Keep migrations/sqlite in step.

-- Holding a role with require_mfa, or signing in to a client with it, needs a second factor.
ALTER TABLE roles ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- Enrolled factors (palisade_core::factor::Factor). Nothing here is usable by whoever copies
-- the database: a TOTP secret is a compact JWE sealed under the master key that
-- master_key_id names; a passkey is its public key (webauthn-rs Passkey JSON).
CREATE TABLE user_factors (
    id             TEXT   PRIMARY KEY,
    user_id        TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT   NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name           TEXT   NOT NULL,
    credential     TEXT   NOT NULL,
    -- TOTP only: the master key that sealed the secret (a rewrap moves it).
    master_key_id  TEXT,
    -- Passkey only: base64url of the WebAuthn credential id, unique across every user so a
    -- sign-in with a discoverable credential finds exactly one account.
    credential_id  TEXT,
    -- TOTP only: the last RFC 6238 time step accepted, so each code is accepted once (§5.2).
    last_used_step BIGINT,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT,
    CONSTRAINT user_factors_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX user_factors_user_idx ON user_factors (user_id);

-- Recovery codes, only as the SHA-256 of the normalised code (TokenHash); used_at set once.
CREATE TABLE recovery_codes (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, digest)
);

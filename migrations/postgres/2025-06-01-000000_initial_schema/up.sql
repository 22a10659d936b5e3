-- Palisade's durable state (docs/design.md §2), PostgreSQL dialect.
-- Instants are BIGINT unix seconds, UUIDs and JSON are TEXT, so the same Diesel schema serves
-- PostgreSQL and SQLite (keep migrations/sqlite in step with this file).

CREATE TABLE users (
    id             TEXT    PRIMARY KEY,
    -- Already case-folded by palisade_core::model::Username; "C" makes ordering and equality
    -- byte-wise whatever the database's default collation, as on SQLite.
    username       TEXT    NOT NULL COLLATE "C",
    email          TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    display_name   TEXT,
    password_hash  TEXT    NOT NULL,
    is_disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT
);

CREATE TABLE permissions (
    name TEXT PRIMARY KEY
);

CREATE TABLE role_permissions (
    role_name       TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission_name TEXT NOT NULL REFERENCES permissions (name) ON DELETE CASCADE,
    PRIMARY KEY (role_name, permission_name)
);
CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_name);

CREATE TABLE user_roles (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_name TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_name)
);
CREATE INDEX user_roles_role_idx ON user_roles (role_name);

CREATE TABLE clients (
    id                             TEXT   PRIMARY KEY,
    name                           TEXT   NOT NULL,
    client_type                    TEXT   NOT NULL CHECK (client_type IN ('public', 'confidential')),
    application_type               TEXT   NOT NULL DEFAULT 'web' CHECK (application_type IN ('web', 'native')),
    secret_hash                    TEXT,
    token_endpoint_auth_method     TEXT   NOT NULL,
    -- JSON arrays of strings (response types such as "code id_token" contain spaces).
    grant_types                    TEXT   NOT NULL,
    response_types                 TEXT   NOT NULL,
    scopes                         TEXT   NOT NULL,
    -- JSON array of strings, in registration order.
    post_logout_redirect_uris      TEXT   NOT NULL DEFAULT '[]',
    access_token_ttl_secs          BIGINT,
    refresh_token_ttl_secs         BIGINT,
    id_token_signed_response_alg   TEXT,
    registration_access_token_hash TEXT,
    jwks                           TEXT,
    created_at                     BIGINT NOT NULL
);

CREATE TABLE client_redirect_uris (
    client_id TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    uri       TEXT    NOT NULL,
    PRIMARY KEY (client_id, position)
);

CREATE TABLE consents (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT   NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_idx ON consents (client_id);

CREATE TABLE refresh_token_families (
    id            TEXT   PRIMARY KEY,
    client_id     TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id       TEXT   REFERENCES users (id) ON DELETE CASCADE,
    scopes        TEXT   NOT NULL,
    -- "grant" is a reserved word.
    grant_json    TEXT   NOT NULL,
    current_hash  TEXT   NOT NULL,
    previous_hash TEXT,
    rotated_at    BIGINT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE UNIQUE INDEX refresh_token_families_current_hash_key ON refresh_token_families (current_hash);
CREATE INDEX refresh_token_families_previous_hash_idx ON refresh_token_families (previous_hash);
CREATE INDEX refresh_token_families_client_idx ON refresh_token_families (client_id);
CREATE INDEX refresh_token_families_user_idx ON refresh_token_families (user_id);
CREATE INDEX refresh_token_families_expires_at_idx ON refresh_token_families (expires_at);

CREATE TABLE signing_keys (
    kid                   TEXT   PRIMARY KEY,
    alg                   TEXT   NOT NULL,
    state                 TEXT   NOT NULL CHECK (state IN ('next', 'current', 'retired', 'revoked')),
    public_jwk            TEXT   NOT NULL,
    encrypted_private_jwk TEXT   NOT NULL,
    master_key_id         TEXT   NOT NULL,
    created_at            BIGINT NOT NULL,
    activates_at          BIGINT NOT NULL,
    activated_at          BIGINT,
    retired_at            BIGINT,
    remove_after          BIGINT
);

-- Named leases so one node at a time runs a job (key rotation).
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE account_lockouts (
    user_id          TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failure_streak   INTEGER NOT NULL,
    first_failure_at BIGINT,
    locked_until     BIGINT,
    lock_count       INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    occurred_at BIGINT    NOT NULL,
    actor       TEXT      NOT NULL,
    action      TEXT      NOT NULL,
    target      TEXT,
    outcome     TEXT      NOT NULL CHECK (outcome IN ('success', 'failure')),
    client_ip   TEXT,
    details     TEXT
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor);
CREATE INDEX audit_events_target_idx ON audit_events (target);

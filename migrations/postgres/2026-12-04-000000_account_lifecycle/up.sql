-- Account lifecycle (docs/security.md "Account events"). Keep migrations/sqlite in step.

-- Everything that rests on an authentication at or before this instant (unix seconds) is void:
-- browser sessions, codes, refresh-token families, access tokens. Set by a password change or
-- reset, disabling, removing a factor and "sign out everywhere"; never cleared, so enabling a
-- user again restores nothing.
ALTER TABLE users ADD COLUMN sessions_revoked_at BIGINT;

-- Every refresh token a family has rotated away, for the family's whole life: presenting any of
-- them (not only the latest) revokes the family (RFC 9700 §4.14.2).
CREATE TABLE refresh_token_spent (
    hash      TEXT   PRIMARY KEY,
    family_id TEXT   NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
    spent_at  BIGINT NOT NULL
);
CREATE INDEX refresh_token_spent_family_idx ON refresh_token_spent (family_id);

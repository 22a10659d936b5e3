-- Access reviews of role grants (issue 18). SQLite dialect. Keep migrations/postgres in step.
--
-- Grants made before this migration keep NULL in every new column: who granted them and when
-- was not recorded ("before records began"), and they never expire.

-- The actor who granted the role, as audit events name one: `user:<id>`, `client:<id>`, `cli`.
ALTER TABLE user_roles ADD COLUMN granted_by TEXT;
-- Unix seconds of the grant (the latest, when a role was granted again).
ALTER TABLE user_roles ADD COLUMN granted_at BIGINT;
-- From this instant (unix seconds) the grant gives nothing; a sweep then deletes it.
ALTER TABLE user_roles ADD COLUMN expires_at BIGINT;
-- When an access review last confirmed the grant.
ALTER TABLE user_roles ADD COLUMN confirmed_at BIGINT;
CREATE INDEX user_roles_expires_idx ON user_roles (expires_at) WHERE expires_at IS NOT NULL;

-- When the user last completed a sign-in at the login pages (NULL: not since this migration).
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT;

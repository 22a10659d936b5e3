ALTER TABLE users DROP COLUMN last_sign_in_at;
DROP INDEX user_roles_expires_idx;
ALTER TABLE user_roles DROP COLUMN confirmed_at;
ALTER TABLE user_roles DROP COLUMN expires_at;
ALTER TABLE user_roles DROP COLUMN granted_at;
ALTER TABLE user_roles DROP COLUMN granted_by;

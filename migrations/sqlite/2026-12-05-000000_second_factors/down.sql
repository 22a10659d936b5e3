DROP TABLE recovery_codes;
DROP TABLE user_factors;
ALTER TABLE clients DROP COLUMN require_mfa;
ALTER TABLE roles DROP COLUMN require_mfa;

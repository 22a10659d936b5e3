DROP TABLE IF EXISTS initial_access_tokens;

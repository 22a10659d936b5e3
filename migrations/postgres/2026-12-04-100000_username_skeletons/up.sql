-- UTS #39 skeletons of usernames (palisade_core::model::Username::skeleton), PostgreSQL dialect.
-- The UNIQUE index makes "no new username confusable with an existing one" atomic: two
-- concurrent inserts of `alice` and `аlice` (Cyrillic а) cannot both succeed.
-- Rows from before this migration get their skeleton from SqlStore::migrate, in Rust (SQL has
-- no skeleton function); until then it is NULL, and NULLs never clash in a UNIQUE index.
-- "C": compared byte-wise, as on SQLite. (keep migrations/sqlite in step with this file)

ALTER TABLE users ADD COLUMN username_skeleton TEXT COLLATE "C";
CREATE UNIQUE INDEX users_username_skeleton_key ON users (username_skeleton);

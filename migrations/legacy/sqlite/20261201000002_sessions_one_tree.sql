-- Sessions keyed by their id's hash alone: WITHOUT ROWID keeps them in one b-tree (not a table
-- and the index of its key), and the index on last_seen_at goes, which no query used (the
-- clean-up's `last_seen_at <= … OR created_at <= …` scans the table anyway) and every session
-- write paid for. Each session write now changes one tree instead of three (issue 15).
CREATE TABLE sessions_one_tree (
    id_hash      TEXT    PRIMARY KEY,      -- SHA-256 of the session id, hex
    state        BLOB    NOT NULL,         -- the session's entries, JSON, sealed
    created_at   INTEGER NOT NULL,         -- unix milliseconds; the id is renewed at login
    last_seen_at INTEGER NOT NULL          -- unix milliseconds, updated at most once a minute
) WITHOUT ROWID;
INSERT INTO sessions_one_tree (id_hash, state, created_at, last_seen_at)
    SELECT id_hash, state, created_at, last_seen_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_one_tree RENAME TO sessions;

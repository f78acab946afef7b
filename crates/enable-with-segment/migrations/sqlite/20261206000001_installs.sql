-- The installs of enable-with-segment's SqlStore, in a table of its own, prefixed segment_ so
-- that it sits beside the tables of the database that hosts it. Its migrations are recorded in
-- segment_installs_migrations, never in sqlx's _sqlx_migrations.
--
-- Times are unix milliseconds. user_id is the partner's user id as its Display writes it.
CREATE TABLE segment_installs (
    install_name        TEXT    PRIMARY KEY,
    user_id             TEXT    NOT NULL,
    app_name            TEXT    NOT NULL,
    workspace           TEXT    NOT NULL,
    source              TEXT,
    scope               TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    -- When it was last saved or given a new token: a user's installs are listed by it.
    used_at             INTEGER NOT NULL,
    -- The newest token, sealed (AES-256-GCM: nonce, then ciphertext and tag), and its
    -- SHA-256, which the refresh lease compares; both NULL while there is none.
    token_sealed        BLOB,
    token_sha256        BLOB,
    token_expires_at    INTEGER,
    -- Set when Segment refused to mint a token; cleared by the next token it mints.
    refused_reason      TEXT,
    refused_at          INTEGER,
    -- Set by Disconnect: no longer used, but whose it was is remembered.
    disconnected_at     INTEGER,
    -- Token refreshes take turns across every instance: the one that refreshes holds this
    -- lease until it stores the new token; the others wait for that token.
    refresh_lease_until INTEGER
);
CREATE INDEX segment_installs_by_user ON segment_installs (user_id, used_at);
-- The installs a new install on the same workspace supersedes.
CREATE INDEX segment_installs_by_workspace ON segment_installs (app_name, workspace);

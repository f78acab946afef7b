-- Partner accounts (the partner's own users) and the Segment installs they made.
-- Install tokens are not stored: they are re-minted from the install name when needed.

CREATE TABLE IF NOT EXISTS accounts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT    NOT NULL,
    -- The recognisable start of the key (shown to the user to tell keys apart).
    api_key_prefix  TEXT    NOT NULL,
    -- SHA-256 of the whole key, hex. The key itself is never stored.
    api_key_hash    TEXT    NOT NULL UNIQUE,
    -- When a credential test (GET /api/v1/me) last succeeded with the current key.
    key_verified_at TEXT
);

CREATE TABLE IF NOT EXISTS installs (
    install_name      TEXT    PRIMARY KEY,
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    app_name          TEXT    NOT NULL,
    workspace         TEXT    NOT NULL,
    source            TEXT,
    scope             TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    last_refreshed_at TEXT
);

CREATE INDEX IF NOT EXISTS installs_by_account ON installs (account_id, created_at);

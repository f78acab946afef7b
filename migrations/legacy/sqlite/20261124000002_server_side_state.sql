-- State on the server: sessions, the account cookie's credential, sealed API keys, and install
-- tokens next to their install. "Sealed" = AES-256-GCM with a key derived from SESSION_KEY.

-- Browser sessions (actix-session's store). The cookie holds only the id; this holds its hash.
CREATE TABLE IF NOT EXISTS sessions (
    id_hash      TEXT    PRIMARY KEY,      -- SHA-256 of the session id, hex
    state        BLOB    NOT NULL,         -- the session's entries, JSON, sealed
    created_at   INTEGER NOT NULL,         -- unix milliseconds; the id is renewed at login
    last_seen_at INTEGER NOT NULL          -- unix milliseconds, updated at most once a minute
);
CREATE INDEX IF NOT EXISTS sessions_by_last_seen ON sessions (last_seen_at);

-- The account cookie's credential, hashed (SHA-256). NULL: signed out, no cookie works.
ALTER TABLE accounts ADD COLUMN login_hash TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS accounts_by_login ON accounts (login_hash);
-- The API key itself, sealed, so Enable can push it (api_key_hash stays for lookups).
ALTER TABLE accounts ADD COLUMN api_key_sealed BLOB;

-- The newest install token, sealed, and when it expires.
ALTER TABLE installs ADD COLUMN token_sealed BLOB;
ALTER TABLE installs ADD COLUMN token_expires_at TEXT;
-- Set when Segment refused to mint a token (the install may be gone, or the App's credentials
-- are wrong); cleared by the next token Segment mints. Never a reason to delete.
ALTER TABLE installs ADD COLUMN attention TEXT;
ALTER TABLE installs ADD COLUMN attention_at TEXT;
-- Set by Disconnect: the app no longer uses the install, but remembers whose it was, so the
-- same account connecting the same workspace again is reconnected.
ALTER TABLE installs ADD COLUMN disconnected_at TEXT;

-- The sandbox demo's generated key, kept only when SESSION_KEY is not set (sandbox mode).
CREATE TABLE IF NOT EXISTS demo_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT    NOT NULL
);

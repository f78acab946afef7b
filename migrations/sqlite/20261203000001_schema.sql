-- The store's schema, every table prefixed segment_ so that a partner's database can host it
-- beside its own tables; its migrations are recorded in segment_migrations (store/db.rs).
-- A database written before (tables without the prefix, history in _sqlx_migrations) is
-- brought up with migrations/legacy/ and renamed instead of running this (store/db.rs).

-- The partner's accounts (in a real partner app: its users).
CREATE TABLE segment_accounts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT    NOT NULL,
    -- The recognisable start of the key (shown to the user to tell keys apart).
    api_key_prefix  TEXT    NOT NULL,
    -- SHA-256 of the whole key, hex, for lookups.
    api_key_hash    TEXT    NOT NULL UNIQUE,
    -- When a credential test (GET /api/v1/me) last succeeded with the current key.
    key_verified_at TEXT,
    -- The account cookie's credential, hashed (SHA-256). NULL: signed out, no cookie works.
    login_hash      TEXT,
    -- The API key itself, sealed, so Enable can push it.
    api_key_sealed  BLOB,
    -- The partner's own user id, for a login that names users (examples/proxy_login.rs).
    user_id         TEXT
);
CREATE UNIQUE INDEX segment_accounts_by_login ON segment_accounts (login_hash);
CREATE UNIQUE INDEX segment_accounts_by_user ON segment_accounts (user_id);

-- Each account's Segment installs, with the newest install token, sealed.
CREATE TABLE segment_installs (
    install_name        TEXT    PRIMARY KEY,
    account_id          INTEGER NOT NULL REFERENCES segment_accounts (id) ON DELETE CASCADE,
    app_name            TEXT    NOT NULL,
    workspace           TEXT    NOT NULL,
    source              TEXT,
    scope               TEXT    NOT NULL,
    created_at          TEXT    NOT NULL,
    last_refreshed_at   TEXT,
    token_sealed        BLOB,
    token_expires_at    TEXT,
    -- Set when Segment refused to mint a token; cleared by the next token it mints.
    attention           TEXT,
    attention_at        TEXT,
    -- Set by Disconnect: no longer used, but whose it was is remembered.
    disconnected_at     TEXT,
    -- Token refreshes take turns across every app instance: the one that refreshes holds this
    -- lease (unix milliseconds) until it stores the new token; the others wait for that token.
    refresh_lease_until INTEGER
);
CREATE INDEX segment_installs_by_account ON segment_installs (account_id, created_at);
-- The installs a new install on the same workspace supersedes.
CREATE INDEX segment_installs_by_workspace ON segment_installs (app_name, workspace);

-- Browser sessions: one B-tree, keyed by the hashed id.
CREATE TABLE segment_sessions (
    id_hash      TEXT    PRIMARY KEY,      -- SHA-256 of the session id, hex
    state        BLOB    NOT NULL,         -- the session's entries, JSON, sealed
    created_at   INTEGER NOT NULL,         -- unix milliseconds; the id is renewed at login
    last_seen_at INTEGER NOT NULL          -- unix milliseconds, updated at most once a minute
) WITHOUT ROWID;

-- The sandbox demo's generated SESSION_KEY (only when none is set).
CREATE TABLE segment_demo_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT    NOT NULL
);

//! [`SqlStore`]: installs kept in SQLite or Postgres with sqlx (the `sqlite` and `postgres`
//! features), on a pool it opens ([`SqlStore::connect`]) or on yours ([`SqlStore::new`]), beside
//! your own tables.
//!
//! - One table, `segment_installs`, keyed by install name, with your user's id in `user_id`:
//!   the id's `Display` (a `String` as it is, `42` for an integer id, a UUID hyphenated). Your
//!   queries may read it (`SELECT … FROM segment_installs WHERE user_id = $1`); write it only
//!   through the store.
//! - Its migrations are recorded in `segment_installs_migrations`, not in sqlx's
//!   `_sqlx_migrations`, so your own sqlx migrator never sees them as missing or unknown.
//! - Tokens are sealed (AES-256-GCM, bound to their install) with a [`SealKey`]: a stolen
//!   database holds no working token. A token that does not open (the key changed) reads as
//!   expired, and its next use mints a new one: installs outlive a lost key.
//! - Every rule of [`InstallStore`] holds ([`contract::check`](crate::contract::check) runs in
//!   this crate's tests on both databases), the refresh lease included: an `UPDATE … WHERE`
//!   on the token's hash as it was read, so one instance refreshes and the others wait for
//!   its token.

use std::fmt::Display;
use std::str::FromStr;
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::{DateTime, Utc};
use segment_client::secret::AccessToken;
use segment_client::{InstallName, InstallToken, SegmentScope, SourceName, WorkspaceName};
use sha2::{Digest, Sha256};
use sqlx::migrate::{Migrate, MigrateError, Migrator};

use crate::store::{Install, InstallStore, Refusal, Saved};

mod queries;
pub use queries::{INSTALL_COLUMNS, InstallRow};
use queries::{Queries, Written};

/// Where the store records its migrations.
pub const MIGRATIONS_TABLE: &str = "segment_installs_migrations";

const NONCE_BYTES: usize = 12;

/// What fails in a [`SqlStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed or did not answer.
    #[error("the install store's database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The store's tables could not be brought up to date.
    #[error("the install store's tables could not be brought up to date: {0}")]
    Migrate(#[from] MigrateError),
    /// The store's tables are not up to date ([`SqlStore::pending_migrations`]), and nothing
    /// applies them.
    #[error("the install store's tables lack {0} migration(s): run SqlStore::migrate first")]
    NotMigrated(usize),
    /// [`SqlStore::connect`] was given a URL of a database it does not open (the scheme only:
    /// a URL's password is never shown).
    #[error(
        "{0}: not a database this store opens (sqlite: or postgres://, with that cargo feature of enable-with-segment on)"
    )]
    Unsupported(String),
    /// A row holds what the store never writes (an install name that is not one, say).
    #[error("a stored install cannot be read: {0}")]
    Unreadable(String),
}

/// A handler may return an [`Error`] with `?`: a 500, its details in the log, not the page.
impl actix_web::ResponseError for Error {
    fn error_response(&self) -> actix_web::HttpResponse {
        tracing::error!(error = %self, "the install store failed");
        actix_web::HttpResponse::InternalServerError()
            .content_type(actix_web::http::header::ContentType::plaintext())
            .body("the install store failed")
    }
}

/// The key that seals install tokens at rest. Keep it across restarts and share it between
/// instances; a store opened with another key reads every token as expired (the next use of
/// each install mints a new one).
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(••••••••)")
    }
}

impl SealKey {
    /// A key of these 32 bytes (from your key management).
    pub fn from_bytes(bytes: [u8; 32]) -> SealKey {
        SealKey(bytes)
    }

    /// A key of its own, derived (HKDF-SHA256) from the `Key` that seals the flow's cookie, so
    /// that one secret serves both.
    pub fn derive_from(key: &actix_web::cookie::Key) -> SealKey {
        let mut bytes = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(Some(b"enable-with-segment"), key.master())
            .expand(b"install tokens v1", &mut bytes)
            .unwrap_or_else(|_| unreachable!("HKDF-SHA256 gives up to 8160 bytes"));
        SealKey(bytes)
    }
}

/// The pool a [`SqlStore`] runs on: `SqlitePool::into()` or `PgPool::into()`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SqlPool {
    /// SQLite (the `sqlite` feature).
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    /// Postgres (the `postgres` feature).
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for SqlPool {
    fn from(pool: sqlx::SqlitePool) -> SqlPool {
        SqlPool::Sqlite(pool)
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for SqlPool {
    fn from(pool: sqlx::PgPool) -> SqlPool {
        SqlPool::Postgres(pool)
    }
}

impl SqlPool {
    /// Creates or updates the store's table (its migrations, recorded in [`MIGRATIONS_TABLE`]).
    /// Safe to run at every start, and from several instances at once on Postgres (sqlx takes
    /// an advisory lock).
    pub async fn migrate(&self) -> Result<(), Error> {
        match self {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(pool) => Ok(sqlite_migrations().run(pool).await?),
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(pool) => Ok(postgres_migrations().run(pool).await?),
        }
    }

    /// How many of the store's migrations the database lacks (for a deployment that migrates
    /// once, before it rolls out, and checks at start-up).
    pub async fn pending_migrations(&self) -> Result<usize, Error> {
        match self {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(pool) => {
                pending(&sqlite_migrations(), &mut *pool.acquire().await?).await
            }
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(pool) => {
                pending(&postgres_migrations(), &mut *pool.acquire().await?).await
            }
        }
    }
}

/// Installs in SQLite or Postgres: see the module's documentation. Cheap to clone.
#[derive(Clone)]
pub struct SqlStore {
    pool: SqlPool,
    cipher: Arc<Aes256Gcm>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("pool", &self.pool)
            .finish()
    }
}

impl SqlStore {
    /// The store on your pool (your own database), its tokens sealed with `key`. Nothing is
    /// done to the database yet: [`SqlStore::migrate`] creates or updates the store's table.
    pub fn new(pool: impl Into<SqlPool>, key: &SealKey) -> SqlStore {
        SqlStore {
            pool: pool.into(),
            cipher: Arc::new(Aes256Gcm::new(&key.0.into())),
        }
    }

    /// Opens the database at `url` (`sqlite://installs.db`, created with its folder if need
    /// be, in WAL mode; or `postgres://…`), brings the store's table up to date, and keeps its
    /// tokens sealed with `key`.
    pub async fn connect(url: &str, key: &SealKey) -> Result<SqlStore, Error> {
        let scheme = url.split(':').next().unwrap_or_default();
        let pool: SqlPool = match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" => open_sqlite(url).await?.into(),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => sqlx::PgPool::connect(url).await?.into(),
            other => return Err(Error::Unsupported(other.to_owned())),
        };
        let store = SqlStore::new(pool, key);
        store.migrate().await?;
        Ok(store)
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &SqlPool {
        &self.pool
    }

    /// Creates or updates the store's table: [`SqlPool::migrate`].
    pub async fn migrate(&self) -> Result<(), Error> {
        self.pool.migrate().await
    }

    /// How many of the store's migrations the database lacks: [`SqlPool::pending_migrations`].
    pub async fn pending_migrations(&self) -> Result<usize, Error> {
        self.pool.pending_migrations().await
    }

    /// The token of any stored install that is good the longest, if one is good: for what any
    /// install may read (the catalog), with no user at hand (at start-up, say).
    pub async fn any_good_token(&self) -> Result<Option<InstallToken>, Error> {
        let now = Utc::now().timestamp_millis();
        let row = match &self.pool {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(pool) => Queries(pool).any_good(now).await?,
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(pool) => Queries(pool).any_good(now).await?,
        };
        row.map(|row| self.open_row(row).map(|install| install.token))
            .transpose()
    }

    /// `token`'s secret, sealed for its install.
    fn seal(&self, token: &InstallToken) -> Option<Vec<u8>> {
        let secret = token.access_token.secret();
        if secret.is_empty() {
            return None;
        }
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = sealed_for(&token.install_name);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: aad.as_bytes(),
        };
        // Encryption fails only for inputs of gigabytes.
        let ciphertext = self.cipher.encrypt(&nonce, payload).ok()?;
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        Some(sealed)
    }

    /// A sealed secret, opened; `None` if it does not open (another key, another row).
    fn open(&self, sealed: &[u8], install: &InstallName) -> Option<String> {
        let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_BYTES>()?;
        let aad = sealed_for(install);
        let payload = Payload {
            msg: ciphertext,
            aad: aad.as_bytes(),
        };
        let plain = self.cipher.decrypt(&Nonce::from(*nonce), payload).ok()?;
        String::from_utf8(plain).ok()
    }

    /// A row your own query read ([`INSTALL_COLUMNS`] into an [`InstallRow`]), as an
    /// [`Install`]: its names checked, its token unsealed (or, if it does not open, expired).
    pub fn open_row(&self, row: InstallRow) -> Result<Install, Error> {
        let bad = |what: &str, reason: &str| {
            Error::Unreadable(format!("{what} of {}: {reason}", row.install_name))
        };
        let name = InstallName::parse(&row.install_name).map_err(|r| bad("install_name", r))?;
        let secret = row
            .token_sealed
            .as_deref()
            .and_then(|sealed| self.open(sealed, &name));
        let token = InstallToken {
            access_token: AccessToken::new(String::new()),
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
            scope: SegmentScope::parse(&row.scope).map_err(|r| bad("scope", r))?,
            app_name: row.app_name.clone(),
            install_name: name,
            workspace_names: vec![
                WorkspaceName::parse(&row.workspace).map_err(|r| bad("workspace", r))?,
            ],
            source_names: match &row.source {
                Some(source) => vec![SourceName::parse(source).map_err(|r| bad("source", r))?],
                None => Vec::new(),
            },
        };
        let token = match (secret, row.token_expires_at) {
            (Some(secret), Some(expires_at)) => InstallToken {
                access_token: AccessToken::new(secret),
                expires_at: time(expires_at),
                ..token
            },
            _ => token,
        };
        Ok(Install {
            token,
            created_at: time(row.created_at),
            used_at: time(row.used_at),
            refused: match (row.refused_reason, row.refused_at) {
                (Some(reason), at) => Some(Refusal {
                    reason,
                    at: time(at.unwrap_or(row.used_at)),
                }),
                _ => None,
            },
            disconnected_at: row.disconnected_at.map(time),
        })
    }

    /// What a save or a new token writes of `token`.
    fn written(&self, user: &impl Display, token: &InstallToken) -> Written {
        let secret = token.access_token.secret();
        let sealed = self.seal(token);
        Written {
            user: user.to_string(),
            name: token.install_name.to_string(),
            sha256: sealed.as_ref().map(|_| sha256(secret)),
            expires_at: sealed.as_ref().map(|_| token.expires_at.timestamp_millis()),
            sealed,
            now: Utc::now().timestamp_millis(),
        }
    }
}

/// What the seal of an install's token is bound to: the same as the partner app's own sealer,
/// so its tokens carry over.
fn sealed_for(install: &InstallName) -> String {
    format!("installs/token/{install}")
}

fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[cfg(feature = "sqlite")]
fn sqlite_migrations() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations/sqlite");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    // An older binary starts on the schema a newer one migrated (a rolling upgrade).
    migrator.set_ignore_missing(true);
    migrator
}

#[cfg(feature = "postgres")]
fn postgres_migrations() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    // An older binary starts on the schema a newer one migrated (a rolling upgrade).
    migrator.set_ignore_missing(true);
    migrator
}

/// How many of `migrator`'s migrations the database behind `conn` lacks.
async fn pending(migrator: &Migrator, conn: &mut impl Migrate) -> Result<usize, Error> {
    // No table yet: none was applied.
    let applied: Vec<i64> = match conn.list_applied_migrations(MIGRATIONS_TABLE).await {
        Ok(applied) => applied.into_iter().map(|m| m.version).collect(),
        Err(_) => Vec::new(),
    };
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .count())
}

/// The SQLite file at `url` (created, with its folder, if need be), in WAL mode: readers never
/// wait for the writer, and a statement waits up to 5 s for another connection's lock.
#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str) -> Result<sqlx::SqlitePool, Error> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(std::time::Duration::from_secs(5));
    if let Some(folder) = options.get_filename().parent()
        && !folder.as_os_str().is_empty()
    {
        std::fs::create_dir_all(folder).map_err(|e| Error::Database(sqlx::Error::Io(e)))?;
    }
    Ok(sqlx::SqlitePool::connect_with(options).await?)
}

/// Runs `$call` on the store's [`Queries`], whichever database it is on.
macro_rules! queries {
    ($store:expr, |$q:ident| $call:expr) => {
        match &$store.pool {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(pool) => {
                let $q = Queries(pool);
                $call.await
            }
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(pool) => {
                let $q = Queries(pool);
                $call.await
            }
        }
    };
}

/// Users are known by their id's `Display`.
impl<Id: Display + Send + Sync> InstallStore<Id> for SqlStore {
    type Error = Error;

    async fn save(&self, user: &Id, install: &InstallToken) -> Result<Saved, Error> {
        let written = self.written(user, install);
        queries!(self, |q| q.save(install, written))
    }

    async fn installs(&self, user: &Id) -> Result<Vec<Install>, Error> {
        let rows = queries!(self, |q| q.installs(user.to_string()))?;
        rows.into_iter().map(|row| self.open_row(row)).collect()
    }

    async fn install(&self, user: &Id, name: &InstallName) -> Result<Option<Install>, Error> {
        let row = queries!(self, |q| q.install(user.to_string(), name.to_string()))?;
        row.map(|row| self.open_row(row)).transpose()
    }

    async fn disconnect(&self, user: &Id, name: &InstallName) -> Result<bool, Error> {
        let now = Utc::now().timestamp_millis();
        queries!(self, |q| q.disconnect(
            user.to_string(),
            name.to_string(),
            now
        ))
    }

    async fn save_token(&self, user: &Id, token: &InstallToken) -> Result<bool, Error> {
        let written = self.written(user, token);
        queries!(self, |q| q.save_token(written, None))
    }

    async fn refused(&self, user: &Id, name: &InstallName, reason: &str) -> Result<(), Error> {
        queries!(self, |q| q.refused(
            user.to_string(),
            name.to_string(),
            reason.to_owned()
        ))
    }

    async fn use_state(&self, state: &str, until: DateTime<Utc>) -> Result<bool, Error> {
        // Its hash: a used state is worth nothing, but the table need not hold it.
        let sha256 = Sha256::digest(state.as_bytes()).to_vec();
        queries!(self, |q| q
            .use_state(sha256.clone(), until.timestamp_millis()))
    }

    async fn try_refresh_lease(
        &self,
        user: &Id,
        seen: &InstallToken,
        until: DateTime<Utc>,
    ) -> Result<bool, Error> {
        // The token held now, as `seen` would read it (empty if there is none, or if it does
        // not open): if it is not `seen`'s, another refresh just finished.
        let (user, name) = (user.to_string(), seen.install_name.to_string());
        let Some(row) = queries!(self, |q| q.install(user.clone(), name.clone()))? else {
            return Ok(false);
        };
        let held = row.token_sha256.clone();
        let now = self.open_row(row)?;
        if now.token.access_token != seen.access_token {
            return Ok(false);
        }
        queries!(self, |q| q.try_lease(
            user,
            name,
            held,
            until.timestamp_millis()
        ))
    }

    async fn save_refreshed(
        &self,
        user: &Id,
        token: &InstallToken,
        lease: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let written = self.written(user, token);
        queries!(self, |q| q
            .save_token(written, Some(lease.timestamp_millis())))
    }

    async fn end_refresh_lease(&self, user: &Id, name: &InstallName) -> Result<(), Error> {
        queries!(self, |q| q.end_lease(user.to_string(), name.to_string()))
    }
}

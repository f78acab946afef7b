//! The app's state on the server, in one database (SQLite through sqlx by default; the
//! migrations in `migrations/` are compiled in and applied when the store opens):
//! - [`accounts`]: the partner's own accounts (in a real partner app: its users), their API
//!   keys and the credential the demo's account cookie holds;
//! - [`installs`]: the Segment installs each account made, with their newest install token;
//! - [`sessions`]: the browser sessions (actix-session's [`SessionStore`] over the same
//!   database), so a session cookie holds only an id and logging out ends it everywhere.
//!
//! Secrets are never stored in clear: credentials are hashed (SHA-256; they are long and
//! random), and what must be read back (API keys, install tokens, session state) is sealed with
//! [`Sealer`] (AES-256-GCM, keyed from `SESSION_KEY`).
//!
//! [`SessionStore`]: actix_session::storage::SessionStore

pub mod accounts;
pub mod installs;
mod keys;
pub mod sessions;

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::crypto::{MasterKey, OpenError, Sealer};

pub use accounts::Account;
pub use installs::{Attention, Saved, StoredInstall};
pub use keys::{ApiKey, LoginToken, hash as hash_key};
pub use sessions::SqlSessionStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database schema could not be brought up to date: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("{0} belongs to another account")]
    NotYours(String),
    #[error("{0}")]
    Unreadable(#[from] OpenError),
    #[error("the demo's generated key in the database is not usable: {0}")]
    DemoKey(String),
}

/// Accounts and installs. Cheap to clone: one pool and one sealer shared by all.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    sealer: Sealer,
}

impl Store {
    /// Opens (creating it if needed) the database at `url`, applies the migrations, and seals
    /// data with keys derived from `key`.
    pub async fn open(url: &str, key: &MasterKey) -> Result<Store, StoreError> {
        Ok(Store {
            pool: connect(url).await?,
            sealer: key.sealer(),
        })
    }

    /// For the sandbox demo without `SESSION_KEY`: opens the database and uses the key the demo
    /// generated and kept there on its first start, so sessions, accounts and their sealed
    /// data survive a restart. The data is then no better protected than the database file.
    pub async fn open_demo(url: &str) -> Result<(Store, MasterKey), StoreError> {
        let pool = connect(url).await?;
        let generated = MasterKey::generate();
        sqlx::query("INSERT INTO demo_key (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
            .bind(generated.to_base64())
            .execute(&pool)
            .await?;
        let kept: String = sqlx::query_scalar("SELECT key FROM demo_key WHERE id = 1")
            .fetch_one(&pool)
            .await?;
        let key = MasterKey::parse(&kept).map_err(|e| StoreError::DemoKey(e.to_string()))?;
        let store = Store {
            pool,
            sealer: key.sealer(),
        };
        Ok((store, key))
    }

    /// The browser sessions, in the same database.
    pub fn sessions(&self, limits: crate::config::SessionLimits) -> SqlSessionStore {
        SqlSessionStore::new(self.pool.clone(), self.sealer.clone(), limits)
    }

    /// Removes what has outlived its use: expired sessions, and demo accounts older than
    /// `unused_accounts` that never connected anything. Returns (sessions, accounts) removed.
    pub async fn clean_up(
        &self,
        sessions: &SqlSessionStore,
        unused_accounts: Duration,
    ) -> Result<(u64, u64), StoreError> {
        let sessions = sessions.remove_expired().await?;
        let before = Utc::now() - chrono::Duration::from_std(unused_accounts).unwrap_or_default();
        let accounts = self.remove_unused_accounts(before).await?;
        Ok((sessions, accounts))
    }
}

async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    // WAL with synchronous=NORMAL: readers never wait for the writer, and a commit waits for no
    // fsync of its own (still durable across an application crash).
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let file = options.get_filename().to_path_buf();
    if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty())
        && !folder.exists()
    {
        std::fs::create_dir_all(folder)
            .map_err(|e| StoreError::Folder(folder.display().to_string(), e))?;
    }
    let pool = SqlitePoolOptions::new()
        // A ping before each use would double the round trips to a local file.
        .test_before_acquire(false)
        // Each connection has a thread of its own that runs its queries; with 4, pages waited
        // for a free one under load (3,400 pages/s at 64 connections, 5,600 with 8; more gained
        // nothing, see BENCHMARKS.md).
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A store on a database of its own in the temp folder (removed with the returned guard).
    pub async fn temp_store() -> (Store, TempDir) {
        let dir = std::env::temp_dir().join(format!(
            "partnerapp-store-{}",
            LoginToken::generate().hash().get(..12).unwrap_or("x")
        ));
        let url = format!("sqlite://{}", dir.join("nested").join("test.db").display());
        let store = Store::open(&url, &MasterKey::generate()).await.unwrap();
        (store, TempDir(dir, url))
    }

    pub struct TempDir(pub std::path::PathBuf, pub String);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

//! The app's state on the server, in one database (SQLite through sqlx by default, `db`; the
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
mod db;
pub mod installs;
mod keys;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::crypto::{MasterKey, OpenError, Sealer};
use db::Db;

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
    db: Arc<Db>,
    sealer: Sealer,
}

impl Store {
    /// Opens (creating it if needed) the database at `url`, applies the migrations, and seals
    /// data with keys derived from `key`.
    pub async fn open(url: &str, key: &MasterKey) -> Result<Store, StoreError> {
        Ok(Store {
            db: Arc::new(Db::open(url).await?),
            sealer: key.sealer(),
        })
    }

    /// For the sandbox demo without `SESSION_KEY`: opens the database and uses the key the demo
    /// generated and kept there on its first start, so sessions, accounts and their sealed
    /// data survive a restart. The data is then no better protected than the database file.
    pub async fn open_demo(url: &str) -> Result<(Store, MasterKey), StoreError> {
        let db = Db::open(url).await?;
        let generated = MasterKey::generate();
        sqlx::query("INSERT INTO demo_key (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
            .bind(generated.to_base64())
            .execute(&mut *db.writer().await)
            .await?;
        let kept: String = sqlx::query_scalar("SELECT key FROM demo_key WHERE id = 1")
            .fetch_one(&mut *db.conn().await)
            .await?;
        let key = MasterKey::parse(&kept).map_err(|e| StoreError::DemoKey(e.to_string()))?;
        let store = Store {
            db: Arc::new(db),
            sealer: key.sealer(),
        };
        Ok((store, key))
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.db.conn().await)
            .await?;
        Ok(())
    }

    /// The browser sessions, in the same database.
    pub fn sessions(&self, limits: crate::config::SessionLimits) -> SqlSessionStore {
        SqlSessionStore::new(self.db.clone(), self.sealer.clone(), limits)
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

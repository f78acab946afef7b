//! The database: accounts and installs. SQLite by default (a file under `./data/`), through
//! sqlx; the migrations in `migrations/` are compiled in and applied when the store opens.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::keys::ApiKey;
use crate::segment::InstallToken;

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
}

/// A partner account (in a real partner app: the user).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub api_key_prefix: String,
    pub api_key_hash: String,
    /// When Segment's credential test last passed with the current key.
    pub key_verified_at: Option<DateTime<Utc>>,
}

/// An install an account made: everything needed to re-mint its token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredInstall {
    pub install_name: String,
    pub account_id: i64,
    pub app_name: String,
    pub workspace: String,
    pub source: Option<String>,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
}

/// How long an account read from the database is served from memory. Every page needs the
/// visitor's account; this keeps the database off the hot path. Writes through this store
/// update the copy at once; the limit bounds how stale it can be when several app processes
/// share the database.
const ACCOUNT_CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries beyond this are dropped (oldest first) rather than grow without bound.
const ACCOUNT_CACHE_MAX: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    accounts: Arc<Mutex<HashMap<i64, (Instant, Account)>>>,
}

impl Store {
    /// Opens (creating it if needed) the database at `url` and applies the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        // WAL with synchronous=NORMAL: readers never wait for the writer, and a commit waits
        // for no fsync of its own (still durable across an application crash).
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
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            accounts: Arc::default(),
        })
    }

    fn cached(&self, id: i64) -> Option<Account> {
        let cache = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&id)
            .filter(|(at, _)| at.elapsed() < ACCOUNT_CACHE_TTL)
            .map(|(_, account)| account.clone())
    }

    fn remember(&self, account: &Account) {
        let mut cache = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= ACCOUNT_CACHE_MAX {
            cache.retain(|_, (at, _)| at.elapsed() < ACCOUNT_CACHE_TTL);
            if cache.len() >= ACCOUNT_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(account.id, (Instant::now(), account.clone()));
    }

    fn forget_cached(&self, id: i64) {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    // ---- accounts -------------------------------------------------------------------------------

    /// A new account with a new API key (returned in full only here).
    pub async fn create_account(&self) -> Result<(Account, ApiKey), StoreError> {
        let key = ApiKey::generate();
        let account = sqlx::query_as::<_, Account>(
            "INSERT INTO accounts (created_at, api_key_prefix, api_key_hash) VALUES (?, ?, ?)
             RETURNING id, created_at, api_key_prefix, api_key_hash, key_verified_at",
        )
        .bind(Utc::now())
        .bind(key.display_prefix())
        .bind(key.hash())
        .fetch_one(&self.pool)
        .await?;
        self.remember(&account);
        Ok((account, key))
    }

    pub async fn account(&self, id: i64) -> Result<Option<Account>, StoreError> {
        if let Some(account) = self.cached(id) {
            return Ok(Some(account));
        }
        let account = sqlx::query_as::<_, Account>(
            "SELECT id, created_at, api_key_prefix, api_key_hash, key_verified_at
             FROM accounts WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(account) = &account {
            self.remember(account);
        }
        Ok(account)
    }

    /// The account whose current key this is.
    pub async fn account_by_key(&self, key: &ApiKey) -> Result<Option<Account>, StoreError> {
        Ok(sqlx::query_as::<_, Account>(
            "SELECT id, created_at, api_key_prefix, api_key_hash, key_verified_at
             FROM accounts WHERE api_key_hash = ?",
        )
        .bind(key.hash())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Replaces the account's key: the old one stops working at once.
    pub async fn rotate_key(&self, id: i64) -> Result<ApiKey, StoreError> {
        let key = ApiKey::generate();
        sqlx::query(
            "UPDATE accounts SET api_key_prefix = ?, api_key_hash = ?, key_verified_at = NULL
             WHERE id = ?",
        )
        .bind(key.display_prefix())
        .bind(key.hash())
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.forget_cached(id);
        Ok(key)
    }

    /// Records that a credential test passed with the account's current key.
    pub async fn mark_key_verified(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET key_verified_at = ? WHERE id = ?")
            .bind(Utc::now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.forget_cached(id);
        Ok(())
    }

    // ---- installs -------------------------------------------------------------------------------

    /// Keeps the install with the account. An install another account holds is refused.
    pub async fn save_install(
        &self,
        account_id: i64,
        install: &InstallToken,
    ) -> Result<(), StoreError> {
        let saved = sqlx::query(
            "INSERT INTO installs
                 (install_name, account_id, app_name, workspace, source, scope, created_at, last_refreshed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (install_name) DO UPDATE SET last_refreshed_at = excluded.last_refreshed_at
             WHERE installs.account_id = excluded.account_id",
        )
        .bind(install.install_name.as_str())
        .bind(account_id)
        .bind(&install.app_name)
        .bind(install.workspace().map(|w| w.as_str()).unwrap_or_default())
        .bind(install.source().map(|s| s.as_str()))
        .bind(install.scope.to_string())
        .bind(Utc::now())
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        if saved.rows_affected() == 0 {
            return Err(StoreError::NotYours(install.install_name.to_string()));
        }
        Ok(())
    }

    /// The account's installs, most recently used first.
    pub async fn installs(&self, account_id: i64) -> Result<Vec<StoredInstall>, StoreError> {
        Ok(sqlx::query_as::<_, StoredInstall>(
            "SELECT install_name, account_id, app_name, workspace, source, scope, created_at,
                    last_refreshed_at
             FROM installs WHERE account_id = ?
             ORDER BY COALESCE(last_refreshed_at, created_at) DESC",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Notes a new token minted for the install.
    pub async fn touch_install(&self, install_name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE installs SET last_refreshed_at = ? WHERE install_name = ?")
            .bind(Utc::now())
            .bind(install_name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets one of the account's installs (Segment keeps it). `false` if there was none.
    pub async fn forget_install(
        &self,
        account_id: i64,
        install_name: &str,
    ) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM installs WHERE account_id = ? AND install_name = ?")
            .bind(account_id)
            .bind(install_name)
            .execute(&self.pool)
            .await?;
        Ok(gone.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{InstallName, SegmentScope, SourceName, WorkspaceName};

    fn token(install: &str, workspace: &str) -> InstallToken {
        InstallToken {
            access_token: crate::secret::Secret::new("t"),
            expires_at: Utc::now(),
            scope: SegmentScope::parse("destination/clearbrain").unwrap(),
            app_name: "apps/1".into(),
            install_name: InstallName::parse(install).unwrap(),
            workspace_names: vec![
                WorkspaceName::parse(&format!("workspaces/{workspace}")).unwrap(),
            ],
            source_names: vec![
                SourceName::parse(&format!("workspaces/{workspace}/sources/js")).unwrap(),
            ],
        }
    }

    fn temp_db() -> (String, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "partnerapp-store-{}",
            ApiKey::generate().display_prefix()
        ));
        let file = dir.join("nested").join("test.db");
        (format!("sqlite://{}", file.display()), dir)
    }

    #[tokio::test]
    async fn migrations_apply_to_an_empty_database_and_again() {
        let (url, dir) = temp_db();
        let store = Store::open(&url).await.unwrap();
        let (account, key) = store.create_account().await.unwrap();
        drop(store);
        // Opening again applies nothing new and keeps the data.
        let store = Store::open(&url).await.unwrap();
        assert_eq!(
            store.account_by_key(&key).await.unwrap().unwrap().id,
            account.id
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn keys_installs_and_owners() {
        let (url, dir) = temp_db();
        let store = Store::open(&url).await.unwrap();
        let (alice, alice_key) = store.create_account().await.unwrap();
        let (bob, _) = store.create_account().await.unwrap();
        assert_eq!(alice.api_key_hash, alice_key.hash());
        assert_ne!(
            alice.api_key_hash,
            alice_key.expose(),
            "the key is stored in clear"
        );

        // Rotation retires the old key.
        let new_key = store.rotate_key(alice.id).await.unwrap();
        assert!(store.account_by_key(&alice_key).await.unwrap().is_none());
        assert_eq!(
            store.account_by_key(&new_key).await.unwrap().unwrap().id,
            alice.id
        );

        store
            .save_install(alice.id, &token("installs/1", "acme"))
            .await
            .unwrap();
        store
            .save_install(alice.id, &token("installs/1", "acme"))
            .await
            .unwrap();
        store
            .save_install(alice.id, &token("installs/2", "globex"))
            .await
            .unwrap();
        let err = store
            .save_install(bob.id, &token("installs/1", "acme"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotYours(_)));
        let installs = store.installs(alice.id).await.unwrap();
        assert_eq!(installs.len(), 2);
        assert!(store.installs(bob.id).await.unwrap().is_empty());

        assert!(
            !store.forget_install(bob.id, "installs/1").await.unwrap(),
            "bob forgot alice's install"
        );
        assert!(store.forget_install(alice.id, "installs/1").await.unwrap());
        assert_eq!(store.installs(alice.id).await.unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}

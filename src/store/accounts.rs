//! Partner accounts: made when a visitor first needs one, found by the account cookie's
//! credential ([`LoginToken`], stored hashed) or by API key (stored hashed for lookup and sealed
//! so Enable can push it).

use chrono::{DateTime, Utc};

use sqlx::{Connection, FromRow, Row};

use super::installs::{COLUMNS as INSTALL_COLUMNS, StoredInstall};
use super::keys::{ApiKey, LoginToken};
use super::{Store, StoreError};
use crate::segment::InstallName;

/// A partner account (in a real partner app: the user). The API key is not in it: ask
/// [`Store::api_key`] where it is needed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub api_key_prefix: String,
    pub api_key_hash: String,
    /// When Segment's credential test last passed with the current key.
    pub key_verified_at: Option<DateTime<Utc>>,
    api_key_sealed: Option<Vec<u8>>,
}

const COLUMNS: &str =
    "id, created_at, api_key_prefix, api_key_hash, key_verified_at, api_key_sealed";

/// What the API key is sealed for: the key's own hash, which the row holds next to it.
fn key_row(hash: &str) -> String {
    format!("accounts/api_key/{hash}")
}

impl Store {
    /// A new account, with a new API key and a login credential (both returned in full only
    /// here).
    pub async fn create_account(&self) -> Result<(Account, ApiKey, LoginToken), StoreError> {
        let key = ApiKey::generate();
        let login = LoginToken::generate();
        let hash = key.hash();
        let account = sqlx::query_as::<_, Account>(&format!(
            "INSERT INTO accounts (created_at, api_key_prefix, api_key_hash, api_key_sealed, login_hash)
             VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ))
        .bind(Utc::now())
        .bind(key.display_prefix())
        .bind(&hash)
        .bind(self.sealer.seal(key.expose().as_bytes(), &key_row(&hash)))
        .bind(login.hash())
        .fetch_one(&mut *self.db.writer().await)
        .await?;
        Ok((account, key, login))
    }

    /// The account this login credential opens (`None` if it is unknown or signed out), with
    /// its install named `in_use` if it holds one by that name: what every page needs to know
    /// about the visitor, in one query.
    pub async fn account_by_login(
        &self,
        login: &LoginToken,
        in_use: Option<&InstallName>,
    ) -> Result<Option<(Account, Option<StoredInstall>)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT a.id AS a_id, a.created_at AS a_created_at,
                    a.api_key_prefix AS a_api_key_prefix, a.api_key_hash AS a_api_key_hash,
                    a.key_verified_at AS a_key_verified_at, a.api_key_sealed AS a_api_key_sealed,
                    {INSTALL_COLUMNS}
             FROM accounts a LEFT JOIN installs i ON i.account_id = a.id AND i.install_name = ?
             WHERE a.login_hash = ?"
        ))
        .bind(in_use.map(InstallName::as_str))
        .bind(login.hash())
        .fetch_optional(&mut *self.db.conn().await)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let account = Account {
            id: row.try_get("a_id")?,
            created_at: row.try_get("a_created_at")?,
            api_key_prefix: row.try_get("a_api_key_prefix")?,
            api_key_hash: row.try_get("a_api_key_hash")?,
            key_verified_at: row.try_get("a_key_verified_at")?,
            api_key_sealed: row.try_get("a_api_key_sealed")?,
        };
        let install = match row.try_get::<Option<String>, _>("install_name")? {
            Some(_) => Some(StoredInstall::from_row(&row)?),
            None => None,
        };
        Ok(Some((account, install)))
    }

    /// The account whose current key this is.
    pub async fn account_by_key(&self, key: &ApiKey) -> Result<Option<Account>, StoreError> {
        Ok(sqlx::query_as::<_, Account>(&format!(
            "SELECT {COLUMNS} FROM accounts WHERE api_key_hash = ?"
        ))
        .bind(key.hash())
        .fetch_optional(&mut *self.db.conn().await)
        .await?)
    }

    /// The account's API key, unsealed. Fails if it was sealed under another `SESSION_KEY`
    /// (or by a version of the app that did not keep keys): Replace API key makes a new one.
    pub fn api_key(&self, account: &Account) -> Result<ApiKey, StoreError> {
        let sealed = account
            .api_key_sealed
            .as_deref()
            .ok_or(crate::crypto::OpenError)?;
        let text = self
            .sealer
            .open_text(sealed, &key_row(&account.api_key_hash))?;
        Ok(ApiKey::parse(&text).ok_or(crate::crypto::OpenError)?)
    }

    /// Replaces the account's key: the old one stops working at once.
    pub async fn rotate_key(&self, id: i64) -> Result<ApiKey, StoreError> {
        let key = ApiKey::generate();
        let hash = key.hash();
        sqlx::query(
            "UPDATE accounts SET api_key_prefix = ?, api_key_hash = ?, api_key_sealed = ?,
                 key_verified_at = NULL
             WHERE id = ?",
        )
        .bind(key.display_prefix())
        .bind(&hash)
        .bind(self.sealer.seal(key.expose().as_bytes(), &key_row(&hash)))
        .bind(id)
        .execute(&mut *self.db.writer().await)
        .await?;
        Ok(key)
    }

    /// Records that a credential test passed with the account's current key.
    pub async fn mark_key_verified(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET key_verified_at = ? WHERE id = ?")
            .bind(Utc::now())
            .bind(id)
            .execute(&mut *self.db.writer().await)
            .await?;
        Ok(())
    }

    /// Revokes the account's login credential: no copy of the cookie opens it any more. An
    /// account that holds no install is of no use to anyone then, and is removed.
    pub async fn sign_out(&self, id: i64) -> Result<(), StoreError> {
        // IMMEDIATE: take the write lock first. A transaction that reads, then writes, fails at
        // once in WAL mode if another connection wrote in between (SQLITE_BUSY_SNAPSHOT).
        let mut conn = self.db.writer().await;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE accounts SET login_hash = NULL WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM accounts WHERE id = ?
                 AND NOT EXISTS (SELECT 1 FROM installs WHERE account_id = accounts.id)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes accounts made before `before` that never kept an install (a demo visitor who
    /// asked for a key and left). Returns how many.
    pub(super) async fn remove_unused_accounts(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let removed = sqlx::query(
            "DELETE FROM accounts WHERE created_at < ?
                 AND NOT EXISTS (SELECT 1 FROM installs WHERE account_id = accounts.id)",
        )
        .bind(before)
        .execute(&mut *self.db.writer().await)
        .await?;
        Ok(removed.rows_affected())
    }

    /// How many accounts there are (for the inspector of a demo, and tests).
    pub async fn account_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&mut *self.db.conn().await)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::temp_store;
    use super::*;
    use crate::crypto::MasterKey;

    #[tokio::test]
    async fn credentials_are_stored_hashed_and_the_key_sealed() {
        let (store, dir) = temp_store().await;
        let (account, key, login) = store.create_account().await.unwrap();
        let row: (String, Option<String>, Vec<u8>) = sqlx::query_as(
            "SELECT api_key_hash, login_hash, api_key_sealed FROM accounts WHERE id = ?",
        )
        .bind(account.id)
        .fetch_one(&mut *store.db.conn().await)
        .await
        .unwrap();
        assert_eq!(row.0, key.hash());
        assert_eq!(row.1.as_deref(), Some(login.hash().as_str()));
        let clear = key.expose().as_bytes();
        assert!(
            !row.2.windows(clear.len()).any(|w| w == clear),
            "the key is in clear"
        );
        assert_eq!(store.api_key(&account).unwrap(), key);

        // Opened again with another SESSION_KEY, the key cannot be read (and says so).
        let other = Store::open(&dir.1, &MasterKey::generate()).await.unwrap();
        let (again, _) = other.account_by_login(&login, None).await.unwrap().unwrap();
        assert!(matches!(
            other.api_key(&again),
            Err(StoreError::Unreadable(_))
        ));
    }

    #[tokio::test]
    async fn rotation_and_sign_out() {
        let (store, _dir) = temp_store().await;
        let (account, old_key, login) = store.create_account().await.unwrap();
        let new_key = store.rotate_key(account.id).await.unwrap();
        assert!(store.account_by_key(&old_key).await.unwrap().is_none());
        let found = store.account_by_key(&new_key).await.unwrap().unwrap();
        assert_eq!(found.id, account.id);
        assert_eq!(store.api_key(&found).unwrap(), new_key);

        assert!(
            store
                .account_by_login(&login, None)
                .await
                .unwrap()
                .is_some()
        );
        store.sign_out(account.id).await.unwrap();
        assert!(
            store
                .account_by_login(&login, None)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.account_count().await.unwrap(),
            0,
            "an empty account stays"
        );
    }

    #[tokio::test]
    async fn only_old_accounts_without_installs_are_cleaned_up() {
        let (store, _dir) = temp_store().await;
        let (unused, ..) = store.create_account().await.unwrap();
        let (used, ..) = store.create_account().await.unwrap();
        let token = super::super::installs::tests::token("installs/9", "acme");
        store.save_install(used.id, &token).await.unwrap();

        assert_eq!(
            store
                .remove_unused_accounts(unused.created_at)
                .await
                .unwrap(),
            0
        );
        let later = Utc::now() + chrono::Duration::seconds(1);
        assert_eq!(store.remove_unused_accounts(later).await.unwrap(), 1);
        assert_eq!(store.account_count().await.unwrap(), 1);
        assert_eq!(store.installs(used.id).await.unwrap().len(), 1);
    }
}

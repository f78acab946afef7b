//! Partner accounts: made when a visitor first needs one, found by the account cookie's
//! credential ([`LoginToken`], stored hashed) or by API key (stored hashed for lookup and sealed
//! so Enable can push it).

use chrono::{DateTime, Utc};
use enable_with_segment::Install;
use enable_with_segment::sql::InstallRow;
use sqlx::{FromRow, Row};

use super::keys::{ApiKey, LoginToken};
use super::queries::{AccountBy, StoredKey, queries};
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

/// An account with the install it uses, if any, read from one row of
/// [`Queries::account_by`](super::queries::Queries::account_by)'s join: the account's columns
/// prefixed `a_`, then the install's (the flow library's `InstallRow`; all null without one).
pub(super) struct AccountRow(Account, Option<InstallRow>);

impl<'r, R: Row> FromRow<'r, R> for AccountRow
where
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    InstallRow: FromRow<'r, R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let account = Account {
            id: row.try_get("a_id")?,
            created_at: row.try_get("a_created_at")?,
            api_key_prefix: row.try_get("a_api_key_prefix")?,
            api_key_hash: row.try_get("a_api_key_hash")?,
            key_verified_at: row.try_get("a_key_verified_at")?,
            api_key_sealed: row.try_get("a_api_key_sealed")?,
        };
        let install = match row.try_get::<Option<String>, _>("install_name")? {
            Some(_) => Some(InstallRow::from_row(row)?),
            None => None,
        };
        Ok(AccountRow(account, install))
    }
}

/// What the API key is sealed for: the key's own hash, which the row holds next to it.
fn key_row(hash: &str) -> String {
    format!("accounts/api_key/{hash}")
}

impl Store {
    /// `key` as it is stored: its prefix, its hash, and the key sealed.
    fn stored_key(&self, key: &ApiKey) -> StoredKey {
        let hash = key.hash();
        StoredKey {
            prefix: key.display_prefix(),
            sealed: self.sealer.seal(key.expose().as_bytes(), &key_row(&hash)),
            hash,
        }
    }

    /// A new account, with a new API key and a login credential (both returned in full only
    /// here).
    pub async fn create_account(&self) -> Result<(Account, ApiKey, LoginToken), StoreError> {
        let key = ApiKey::generate();
        let login = LoginToken::generate();
        let stored = self.stored_key(&key);
        let account = queries!(self.db, |q| q.create_account(
            stored,
            login.hash(),
            Utc::now()
        ))?;
        Ok((account, key, login))
    }

    /// The account this login credential opens (`None` if it is unknown or signed out), with
    /// its install named `in_use` if it holds one by that name: what every page needs to know
    /// about the visitor, in one query.
    pub async fn account_by_login(
        &self,
        login: &LoginToken,
        in_use: Option<&InstallName>,
    ) -> Result<Option<(Account, Option<Install>)>, StoreError> {
        self.account_by(AccountBy::Login, login.hash(), in_use)
            .await
    }

    /// An account, found by `by`, with its install named `in_use`, in one query.
    async fn account_by(
        &self,
        by: AccountBy,
        value: String,
        in_use: Option<&InstallName>,
    ) -> Result<Option<(Account, Option<Install>)>, StoreError> {
        let install = in_use.map(|name| name.as_str().to_owned());
        let row = queries!(self.db, |q| q.account_by(by, value, install))?;
        let Some(AccountRow(account, install)) = row else {
            return Ok(None);
        };
        let install = install.map(|row| self.installs.open_row(row)).transpose()?;
        Ok(Some((account, install)))
    }

    /// The account of the partner's user `user_id` (their own id for the user, from their
    /// login), made with a new API key on first use, with its install named `in_use` if it holds
    /// one by that name. Two requests making it at once end on the same account.
    pub async fn account_for_user(
        &self,
        user_id: &str,
        in_use: Option<&InstallName>,
    ) -> Result<(Account, Option<Install>), StoreError> {
        let user = || user_id.to_owned();
        if let Some(found) = self.account_by(AccountBy::User, user(), in_use).await? {
            return Ok(found);
        }
        let stored = self.stored_key(&ApiKey::generate());
        queries!(self.db, |q| q.create_user_account(
            stored,
            user(),
            Utc::now()
        ))?;
        self.account_by(AccountBy::User, user(), in_use)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// The account whose current key this is.
    pub async fn account_by_key(&self, key: &ApiKey) -> Result<Option<Account>, StoreError> {
        Ok(queries!(self.db, |q| q.account_by_key(key.hash()))?)
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
        let stored = self.stored_key(&key);
        queries!(self.db, |q| q.replace_key(id, stored))?;
        Ok(key)
    }

    /// Records that a credential test passed with the account's current key.
    pub async fn mark_key_verified(&self, id: i64) -> Result<(), StoreError> {
        Ok(queries!(self.db, |q| q.mark_key_verified(id, Utc::now()))?)
    }

    /// Revokes the account's login credential: no copy of the cookie opens it any more. An
    /// account that holds no install is of no use to anyone then, and is removed.
    pub async fn revoke_login(&self, id: i64) -> Result<(), StoreError> {
        Ok(queries!(self.db, |q| q.revoke_login(id))?)
    }

    /// Removes accounts made before `before` that never kept an install (a demo visitor who
    /// asked for a key and left). Returns how many.
    pub(super) async fn remove_unused_accounts(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(queries!(self.db, |q| q.remove_unused_accounts(before))?)
    }

    /// How many accounts there are (for the inspector of a demo, and tests).
    pub async fn account_count(&self) -> Result<i64, StoreError> {
        Ok(queries!(self.db, |q| q.account_count())?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{store_test, stored};
    use super::*;
    use crate::crypto::MasterKey;
    use enable_with_segment::InstallStore;

    store_test!(
        credentials_are_stored_hashed_and_the_key_sealed,
        |store, dir| {
            let (account, key, login) = store.create_account().await.unwrap();
            macro_rules! by_login {
                ($column:literal) => {
                    concat!(
                        "SELECT ",
                        $column,
                        " FROM segment_accounts WHERE login_hash = $1"
                    )
                };
            }
            let row: (String, Vec<u8>) = (
                stored(&store, by_login!("api_key_hash"), &login.hash()).await,
                stored(&store, by_login!("api_key_sealed"), &login.hash()).await,
            );
            assert_eq!(row.0, key.hash());
            let clear = key.expose().as_bytes();
            assert!(
                !row.1.windows(clear.len()).any(|w| w == clear),
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
    );

    store_test!(a_partner_user_has_one_account, |store, _dir| {
        let (alice, none) = store
            .account_for_user("alice@example.com", None)
            .await
            .unwrap();
        assert!(none.is_none());
        let (again, _) = store
            .account_for_user("alice@example.com", None)
            .await
            .unwrap();
        assert_eq!(again.id, alice.id);
        let (bob, _) = store
            .account_for_user("bob@example.com", None)
            .await
            .unwrap();
        assert_ne!(bob.id, alice.id);
        assert!(
            store.api_key(&alice).is_ok(),
            "the account has a key to push"
        );
        // The install the session names comes with the account, and only with its holder's.
        let token = crate::store::test_support::token("installs/7", "acme");
        store.installs().save(&alice.id, &token).await.unwrap();
        let (_, install) = store
            .account_for_user("alice@example.com", Some(&token.install_name))
            .await
            .unwrap();
        assert_eq!(install.unwrap().token.access_token, token.access_token);
        let (_, none) = store
            .account_for_user("bob@example.com", Some(&token.install_name))
            .await
            .unwrap();
        assert!(none.is_none(), "bob got alice's install");
    });

    store_test!(rotation_and_revoked_login, |store, _dir| {
        let (account, old_key, login) = store.create_account().await.unwrap();
        let (holder, _, holders_login) = store.create_account().await.unwrap();
        let token = crate::store::test_support::token("installs/3", "acme");
        store.installs().save(&holder.id, &token).await.unwrap();
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
        store.revoke_login(account.id).await.unwrap();
        assert!(
            store
                .account_by_login(&login, None)
                .await
                .unwrap()
                .is_none()
        );
        // An account that holds an install stays (its installs are keyed by its id).
        store.revoke_login(holder.id).await.unwrap();
        assert!(
            store
                .account_by_login(&holders_login, None)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.account_count().await.unwrap(),
            1,
            "an empty account stays, or one holding an install went"
        );
    });

    store_test!(
        only_old_accounts_without_installs_are_cleaned_up,
        |store, _dir| {
            let (unused, ..) = store.create_account().await.unwrap();
            let (used, ..) = store.create_account().await.unwrap();
            let token = crate::store::test_support::token("installs/9", "acme");
            store.installs().save(&used.id, &token).await.unwrap();

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
            assert_eq!(store.installs().installs(&used.id).await.unwrap().len(), 1);
        }
    );
}

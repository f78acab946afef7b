//! Every SQL statement of the app's store, as plain sqlx calls, written once for both
//! databases: the same SQL (both read `$1, $2, …`) in methods generic over sqlx's `Database`,
//! as the flow library's install store does. [`queries!`] calls one on the pool at hand.
//!
//! Statements that change rows say which (`RETURNING`): sqlx counts affected rows per
//! database type only.

use chrono::{DateTime, Utc};
use enable_with_segment::sql::INSTALL_COLUMNS;
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::accounts::{Account, AccountRow};

/// The store's statements on a pool of either database.
pub(super) struct Queries<'a, DB: Database>(pub &'a Pool<DB>);

/// How an account is found (the column `$2` is compared with).
#[derive(Debug, Clone, Copy)]
pub(super) enum AccountBy {
    /// The hash of the demo cookie's credential.
    Login,
    /// The partner's own id for the user.
    User,
}

/// A new account's API key, as it is stored: the prefix shown, the hash looked up, and the key
/// sealed for Enable.
pub(super) struct StoredKey {
    pub prefix: String,
    pub hash: String,
    pub sealed: Vec<u8>,
}

impl<DB> Queries<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> Account: FromRow<'r, DB::Row>,
    for<'r> AccountRow: FromRow<'r, DB::Row>,
    for<'r> (Vec<u8>, i64, i64): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(self.0).await.map(drop)
    }

    /// The demo's generated key: `generated` if none was kept yet, else the one kept first.
    pub async fn demo_key(&self, generated: String) -> Result<String, sqlx::Error> {
        sqlx::query(
            "INSERT INTO segment_demo_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(generated)
        .execute(self.0)
        .await?;
        sqlx::query_scalar("SELECT key FROM segment_demo_key WHERE id = 1")
            .fetch_one(self.0)
            .await
    }

    /// A new account, with `key`, that the demo cookie's credential (hashed: `login`) opens.
    pub async fn create_account(
        &self,
        key: StoredKey,
        login: String,
        now: DateTime<Utc>,
    ) -> Result<Account, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO segment_accounts
                 (created_at, api_key_prefix, api_key_hash, api_key_sealed, login_hash)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING id, created_at, api_key_prefix, api_key_hash, key_verified_at,
                 api_key_sealed",
        )
        .bind(now)
        .bind(key.prefix)
        .bind(key.hash)
        .bind(key.sealed)
        .bind(login)
        .fetch_one(self.0)
        .await
    }

    /// An account for the partner's user `user_id`, with `key`, unless they have one (two
    /// requests making it at once end on one).
    pub async fn create_user_account(
        &self,
        key: StoredKey,
        user_id: String,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO segment_accounts
                 (created_at, api_key_prefix, api_key_hash, api_key_sealed, user_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(now)
        .bind(key.prefix)
        .bind(key.hash)
        .bind(key.sealed)
        .bind(user_id)
        .execute(self.0)
        .await
        .map(drop)
    }

    /// The account whose `by` column holds `value`, with its install named `install` (the
    /// flow library's row, keyed by the account's id as text; all null without one): what every
    /// page needs to know about the visitor, in one round trip.
    pub async fn account_by(
        &self,
        by: AccountBy,
        value: String,
        install: Option<String>,
    ) -> Result<Option<AccountRow>, sqlx::Error> {
        let column = match by {
            AccountBy::Login => "login_hash",
            AccountBy::User => "user_id",
        };
        let mut query = QueryBuilder::<DB>::new(
            "SELECT a.id AS a_id, a.created_at AS a_created_at, a.api_key_prefix AS a_api_key_prefix,
                    a.api_key_hash AS a_api_key_hash, a.key_verified_at AS a_key_verified_at,
                    a.api_key_sealed AS a_api_key_sealed, ",
        );
        query
            .push(INSTALL_COLUMNS)
            .push(
                " FROM segment_accounts a LEFT JOIN segment_installs i
                     ON i.user_id = CAST(a.id AS TEXT) AND i.install_name = ",
            )
            .push_bind(install)
            .push(format_args!(" WHERE a.{column} = "))
            .push_bind(value);
        query.build_query_as().fetch_optional(self.0).await
    }

    /// The account whose current key has this hash.
    pub async fn account_by_key(&self, hash: String) -> Result<Option<Account>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, created_at, api_key_prefix, api_key_hash, key_verified_at, api_key_sealed
             FROM segment_accounts WHERE api_key_hash = $1",
        )
        .bind(hash)
        .fetch_optional(self.0)
        .await
    }

    /// Gives the account `key` in place of its current one, not yet verified.
    pub async fn replace_key(&self, id: i64, key: StoredKey) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE segment_accounts
             SET api_key_prefix = $1, api_key_hash = $2, api_key_sealed = $3,
                 key_verified_at = NULL
             WHERE id = $4",
        )
        .bind(key.prefix)
        .bind(key.hash)
        .bind(key.sealed)
        .bind(id)
        .execute(self.0)
        .await
        .map(drop)
    }

    pub async fn mark_key_verified(&self, id: i64, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE segment_accounts SET key_verified_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.0)
            .await
            .map(drop)
    }

    /// Forgets the account's login credential, and removes the account if it holds no
    /// install, in one transaction. (Its first statement writes, so SQLite takes the write
    /// lock at once.)
    pub async fn revoke_login(&self, id: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.0.begin().await?;
        sqlx::query("UPDATE segment_accounts SET login_hash = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM segment_accounts WHERE id = $1
                 AND NOT EXISTS (SELECT 1 FROM segment_installs
                                 WHERE user_id = CAST(segment_accounts.id AS TEXT))",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Removes the accounts made before `before` that hold no install. Returns how many.
    pub async fn remove_unused_accounts(&self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let removed: Vec<(i64,)> = sqlx::query_as(
            "DELETE FROM segment_accounts WHERE created_at < $1
                 AND NOT EXISTS (SELECT 1 FROM segment_installs
                                 WHERE user_id = CAST(segment_accounts.id AS TEXT))
             RETURNING id",
        )
        .bind(before)
        .fetch_all(self.0)
        .await?;
        Ok(removed.len() as u64)
    }

    pub async fn account_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM segment_accounts")
            .fetch_one(self.0)
            .await
    }

    /// A new session, its entries sealed, whose id has this hash.
    pub async fn insert_session(
        &self,
        id_hash: String,
        sealed: Vec<u8>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO segment_sessions (id_hash, state, created_at, last_seen_at)
             VALUES ($1, $2, $3, $3)",
        )
        .bind(id_hash)
        .bind(sealed)
        .bind(now)
        .execute(self.0)
        .await
        .map(drop)
    }

    /// The session's sealed entries, when it began, and when it was last used.
    pub async fn session(
        &self,
        id_hash: String,
    ) -> Result<Option<(Vec<u8>, i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT state, created_at, last_seen_at FROM segment_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.0)
        .await
    }

    /// Moves the session's last use to `now`, with new entries if `sealed` is given. `false`
    /// if there is no such session (any more).
    pub async fn touch_session(
        &self,
        id_hash: String,
        sealed: Option<Vec<u8>>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let touched: Option<(String,)> = sqlx::query_as(
            "UPDATE segment_sessions SET state = COALESCE($1, state), last_seen_at = $2
             WHERE id_hash = $3
             RETURNING id_hash",
        )
        .bind(sealed)
        .bind(now)
        .bind(id_hash)
        .fetch_optional(self.0)
        .await?;
        Ok(touched.is_some())
    }

    pub async fn remove_session(&self, id_hash: String) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM segment_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.0)
            .await
            .map(drop)
    }

    /// Removes the sessions last used before `idle_before` or begun before `begun_before`.
    /// Returns how many.
    pub async fn remove_ended_sessions(
        &self,
        idle_before: i64,
        begun_before: i64,
    ) -> Result<u64, sqlx::Error> {
        let removed: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM segment_sessions WHERE last_seen_at <= $1 OR created_at <= $2
             RETURNING id_hash",
        )
        .bind(idle_before)
        .bind(begun_before)
        .fetch_all(self.0)
        .await?;
        Ok(removed.len() as u64)
    }

    pub async fn session_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM segment_sessions")
            .fetch_one(self.0)
            .await
    }
}

/// Runs `$call` on the [`Queries`] of the store's database `$db`: a `match` with the same call
/// on either pool (a method generic over the database needs its type known where it is
/// called).
macro_rules! queries {
    ($db:expr, |$q:ident| $call:expr) => {
        match &*$db {
            $crate::store::db::Db::Sqlite(pool) => {
                let $q = $crate::store::queries::Queries(pool);
                $call.await
            }
            $crate::store::db::Db::Postgres(pool) => {
                let $q = $crate::store::queries::Queries(pool);
                $call.await
            }
        }
    };
}
pub(super) use queries;

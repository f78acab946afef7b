//! The store's SQL, written once for both databases (the same statements: both read `$1, $2,
//! …`), as generic sqlx calls over either pool.

use chrono::Utc;
use segment_client::{InstallName, InstallToken};
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::Error;
use crate::store::Saved;

/// A token as it is written: sealed, with its hash and expiry, for a user's install.
pub(super) struct Written {
    pub user: String,
    pub name: String,
    pub sealed: Option<Vec<u8>>,
    pub sha256: Option<Vec<u8>>,
    pub expires_at: Option<i64>,
    pub now: i64,
}

/// One row of `segment_installs`, as a query selecting [`INSTALL_COLUMNS`] reads it
/// (`sqlx::FromRow`): your own query can read it beside your columns, and
/// [`SqlStore::open_row`](super::SqlStore::open_row) makes it an
/// [`Install`](crate::Install).
#[derive(Debug, FromRow)]
pub struct InstallRow {
    pub(super) install_name: String,
    pub(super) app_name: String,
    pub(super) workspace: String,
    pub(super) source: Option<String>,
    pub(super) scope: String,
    pub(super) created_at: i64,
    pub(super) used_at: i64,
    pub(super) token_sealed: Option<Vec<u8>>,
    pub(super) token_sha256: Option<Vec<u8>>,
    pub(super) token_expires_at: Option<i64>,
    pub(super) refused_reason: Option<String>,
    pub(super) refused_at: Option<i64>,
    pub(super) disconnected_at: Option<i64>,
}

/// The columns an [`InstallRow`] reads, for a query in which `segment_installs` is aliased
/// `i`: `SELECT u.name, {INSTALL_COLUMNS} FROM users u LEFT JOIN segment_installs i ON
/// i.user_id = CAST(u.id AS TEXT) AND i.install_name = $1 WHERE u.id = $2` reads your user and their
/// install in one round trip.
pub const INSTALL_COLUMNS: &str = "i.install_name, i.app_name, i.workspace, i.source, i.scope, \
    i.created_at, i.used_at, i.token_sealed, i.token_sha256, i.token_expires_at, i.refused_reason, \
    i.refused_at, i.disconnected_at";

/// The store's queries, written once for both databases (the same SQL: both read `$1, $2, …`).
pub(super) struct Queries<'a, DB: Database>(pub &'a Pool<DB>);

impl<DB> Queries<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> InstallRow: FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    /// Keeps the user's install (or finds another user holds it), and removes those of the same
    /// App on its workspace, in one transaction.
    pub async fn save(&self, token: &InstallToken, written: Written) -> Result<Saved, Error> {
        let workspace = token.workspace().map(|w| w.to_string()).unwrap_or_default();
        let mut tx = self.0.begin().await?;
        // Statements that change rows say which (`RETURNING`): sqlx counts affected rows
        // per database type only.
        let kept: Option<(String,)> = sqlx::query_as(
            "INSERT INTO segment_installs
                 (install_name, user_id, app_name, workspace, source, scope, created_at, used_at,
                  token_sealed, token_sha256, token_expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)
             ON CONFLICT (install_name) DO UPDATE SET
                 source = COALESCE(excluded.source, segment_installs.source),
                 used_at = excluded.used_at,
                 token_sealed = excluded.token_sealed,
                 token_sha256 = excluded.token_sha256,
                 token_expires_at = excluded.token_expires_at,
                 refused_reason = NULL, refused_at = NULL, disconnected_at = NULL,
                 refresh_lease_until = NULL
             WHERE segment_installs.user_id = excluded.user_id
             RETURNING install_name",
        )
        .bind(written.name.clone())
        .bind(written.user)
        .bind(token.app_name.clone())
        .bind(workspace.clone())
        .bind(token.source().map(|s| s.to_string()))
        .bind(token.scope.to_string())
        .bind(written.now)
        .bind(written.sealed)
        .bind(written.sha256)
        .bind(written.expires_at)
        .fetch_optional(&mut *tx)
        .await?;
        if kept.is_none() {
            return Ok(Saved::HeldByAnotherUser);
        }
        let superseded: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM segment_installs
             WHERE app_name = $1 AND workspace = $2 AND install_name <> $3
             RETURNING install_name",
        )
        .bind(token.app_name.clone())
        .bind(workspace)
        .bind(written.name)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let superseded = superseded
            .into_iter()
            .filter_map(|(name,)| InstallName::parse(&name).ok())
            .collect();
        Ok(Saved::Kept { superseded })
    }

    /// `SELECT` [`INSTALL_COLUMNS`] `FROM segment_installs i`, for the caller's `WHERE`.
    fn select_installs() -> QueryBuilder<DB> {
        let mut query = QueryBuilder::new("SELECT ");
        query
            .push(INSTALL_COLUMNS)
            .push(" FROM segment_installs i ");
        query
    }

    pub async fn installs(&self, user: String) -> Result<Vec<InstallRow>, Error> {
        let mut query = Self::select_installs();
        query
            .push("WHERE i.user_id = ")
            .push_bind(user)
            .push(" ORDER BY i.used_at DESC");
        Ok(query.build_query_as().fetch_all(self.0).await?)
    }

    pub async fn install(&self, user: String, name: String) -> Result<Option<InstallRow>, Error> {
        let mut query = Self::select_installs();
        query
            .push("WHERE i.user_id = ")
            .push_bind(user)
            .push(" AND i.install_name = ")
            .push_bind(name);
        Ok(query.build_query_as().fetch_optional(self.0).await?)
    }

    /// The connected install whose token lives longest (for a job that needs any token).
    pub async fn any_good(&self, now: i64) -> Result<Option<InstallRow>, Error> {
        let mut query = Self::select_installs();
        query
            .push("WHERE i.token_expires_at > ")
            .push_bind(now)
            .push(
                " AND i.disconnected_at IS NULL AND i.refused_at IS NULL
                 ORDER BY i.token_expires_at DESC LIMIT 1",
            );
        Ok(query.build_query_as().fetch_optional(self.0).await?)
    }

    pub async fn disconnect(&self, user: String, name: String, now: i64) -> Result<bool, Error> {
        let done: Option<(String,)> = sqlx::query_as(
            "UPDATE segment_installs
             SET disconnected_at = $1, token_sealed = NULL, token_sha256 = NULL,
                 token_expires_at = NULL, refresh_lease_until = NULL
             WHERE user_id = $2 AND install_name = $3
             RETURNING install_name",
        )
        .bind(now)
        .bind(user)
        .bind(name)
        .fetch_optional(self.0)
        .await?;
        Ok(done.is_some())
    }

    /// A new token for the user's connected install; with `lease`, only while the lease taken
    /// until then is held (the row still carries that lease, and it has not lapsed).
    pub async fn save_token(&self, written: Written, lease: Option<i64>) -> Result<bool, Error> {
        let done: Option<(String,)> = sqlx::query_as(
            "UPDATE segment_installs
             SET token_sealed = $1, token_sha256 = $2, token_expires_at = $3, used_at = $4,
                 refused_reason = NULL, refused_at = NULL, refresh_lease_until = NULL
             WHERE user_id = $5 AND install_name = $6 AND disconnected_at IS NULL
                 AND ($7 IS NULL OR (refresh_lease_until = $7 AND refresh_lease_until >= $4))
             RETURNING install_name",
        )
        .bind(written.sealed)
        .bind(written.sha256)
        .bind(written.expires_at)
        .bind(written.now)
        .bind(written.user)
        .bind(written.name)
        .bind(lease)
        .fetch_optional(self.0)
        .await?;
        Ok(done.is_some())
    }

    pub async fn refused(&self, user: String, name: String, reason: String) -> Result<(), Error> {
        sqlx::query(
            "UPDATE segment_installs
             SET refused_reason = COALESCE(refused_reason, $1),
                 refused_at = COALESCE(refused_at, $2), refresh_lease_until = NULL
             WHERE user_id = $3 AND install_name = $4",
        )
        .bind(reason)
        .bind(Utc::now().timestamp_millis())
        .bind(user)
        .bind(name)
        .execute(self.0)
        .await?;
        Ok(())
    }

    /// One statement: the database's row lock makes it atomic across every instance, and the
    /// token's hash (`held`, as the caller read it with the row) closes the gap between reading
    /// the token and taking the lease.
    pub async fn try_lease(
        &self,
        user: String,
        name: String,
        held: Option<Vec<u8>>,
        until: i64,
    ) -> Result<bool, Error> {
        let done: Option<(String,)> = sqlx::query_as(
            "UPDATE segment_installs SET refresh_lease_until = $1
             WHERE user_id = $2 AND install_name = $3
                 AND (refresh_lease_until IS NULL OR refresh_lease_until < $4)
                 AND token_sha256 IS NOT DISTINCT FROM $5
             RETURNING install_name",
        )
        .bind(until)
        .bind(user)
        .bind(name)
        .bind(Utc::now().timestamp_millis())
        .bind(held)
        .fetch_optional(self.0)
        .await?;
        Ok(done.is_some())
    }

    /// Forgets the states whose flows have ended, then records this one: one row inserted if
    /// it was new, none if another callback (on any instance) used it first.
    pub async fn use_state(&self, sha256: Vec<u8>, until: i64) -> Result<bool, Error> {
        let now = Utc::now().timestamp_millis();
        sqlx::query("DELETE FROM segment_flow_states WHERE kept_until < $1")
            .bind(now)
            .execute(self.0)
            .await?;
        let inserted: Option<(String,)> = sqlx::query_as(
            "INSERT INTO segment_flow_states (state_sha256, kept_until) VALUES ($1, $2)
             ON CONFLICT (state_sha256) DO NOTHING
             RETURNING CAST(kept_until AS TEXT)",
        )
        .bind(sha256)
        .bind(until)
        .fetch_optional(self.0)
        .await?;
        Ok(inserted.is_some())
    }

    pub async fn end_lease(&self, user: String, name: String) -> Result<(), Error> {
        sqlx::query(
            "UPDATE segment_installs SET refresh_lease_until = NULL
             WHERE user_id = $1 AND install_name = $2",
        )
        .bind(user)
        .bind(name)
        .execute(self.0)
        .await?;
        Ok(())
    }
}

//! The Segment installs each account made, as Segment's FAQ asks (install name, workspace,
//! source), with the newest install token sealed next to them.
//!
//! Every read and write names the account: an install is only ever reached through the account
//! that holds it. Nothing here deletes an install because Segment refused a token: a refused
//! refresh only marks it ([`Attention`]). Rows go only when Segment itself shows the install is
//! gone (it issued a new install for the same workspace, which it does only when the old one was
//! uninstalled).

use chrono::{DateTime, Utc};

use super::db::on;
use super::{Store, StoreError};
use crate::secret::InstallAccessToken;
use crate::segment::{InstallName, InstallToken, SegmentScope, SourceName, WorkspaceName};

/// An install an account made. Its names are parsed when the row is read: a row that does not
/// hold a valid install or workspace name fails to load, rather than later.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredInstall {
    #[sqlx(try_from = "String")]
    pub install_name: InstallName,
    pub account_id: i64,
    pub app_name: String,
    #[sqlx(try_from = "String")]
    pub workspace: WorkspaceName,
    pub source: Option<String>,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    token_sealed: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
    attention: Option<String>,
    attention_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
}

/// Why an install needs someone to look at it: Segment refused to mint a token for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    /// Segment's answer, in its words (no secret in it).
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// What saving an install did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Saved {
    /// Older installs on the same workspace, which Segment has evidently uninstalled (it just
    /// made a new one there), and which were removed.
    pub superseded: Vec<String>,
}

/// The columns of a [`StoredInstall`], from `segment_installs i`: a literal, so that a query
/// that names them is one `&'static str` (`concat!`), made at compile time.
macro_rules! install_columns {
    () => {
        "i.install_name, i.account_id, i.app_name, i.workspace,
    i.source, i.scope, i.created_at, i.last_refreshed_at, i.token_sealed, i.token_expires_at,
    i.attention, i.attention_at, i.disconnected_at"
    };
}
pub(super) use install_columns;

/// What a token is sealed for: its install.
fn token_row(install_name: &str) -> String {
    format!("installs/token/{install_name}")
}

impl StoredInstall {
    /// In use by this app (not disconnected).
    pub fn is_connected(&self) -> bool {
        self.disconnected_at.is_none()
    }

    pub fn attention(&self) -> Option<Attention> {
        Some(Attention {
            reason: self.attention.clone()?,
            since: self.attention_at.unwrap_or(self.created_at),
        })
    }

    /// The workspace's slug, for sentences.
    pub fn workspace_slug(&self) -> &str {
        self.workspace.slug()
    }
}

impl Store {
    /// Keeps the install with the account, with its token, as connected and needing no
    /// attention. Another account's install of the same name is refused. Older installs on the
    /// same workspace are removed: Segment installs an App once per workspace, so a new install
    /// there means the old one is gone.
    pub async fn save_install(
        &self,
        account_id: i64,
        install: &InstallToken,
    ) -> Result<Saved, StoreError> {
        let name = install.install_name.as_str();
        let workspace = install.workspace().map(|w| w.as_str()).unwrap_or_default();
        let now = Utc::now();
        // One transaction: the install is saved and the ones it supersedes go together.
        let sealed = self.seal_token(install);
        let superseded: Option<Vec<String>> = on!(self.db, transaction, |conn| {
            let saved = query(
                "INSERT INTO segment_installs
                 (install_name, account_id, app_name, workspace, source, scope, created_at,
                  last_refreshed_at, token_sealed, token_expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (install_name) DO UPDATE SET
                 source = COALESCE(excluded.source, segment_installs.source),
                 last_refreshed_at = excluded.last_refreshed_at,
                 token_sealed = excluded.token_sealed,
                 token_expires_at = excluded.token_expires_at,
                 attention = NULL, attention_at = NULL, disconnected_at = NULL
             WHERE segment_installs.account_id = excluded.account_id",
            )
            .bind(name)
            .bind(account_id)
            .bind(&install.app_name)
            .bind(workspace)
            .bind(install.source().map(|s| s.as_str()))
            .bind(install.scope.to_string())
            .bind(now)
            .bind(now)
            .bind(&sealed)
            .bind(install.expires_at)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if saved == 0 {
                None
            } else {
                Some(
                    query_scalar(
                        "DELETE FROM segment_installs
                         WHERE app_name = $1 AND workspace = $2 AND install_name <> $3
                         RETURNING install_name",
                    )
                    .bind(&install.app_name)
                    .bind(workspace)
                    .bind(name)
                    .fetch_all(&mut *conn)
                    .await?,
                )
            }
        });
        let Some(superseded) = superseded else {
            return Err(StoreError::NotYours(name.to_owned()));
        };
        Ok(Saved { superseded })
    }

    /// The account's installs, connected or not, most recently used first.
    pub async fn installs(&self, account_id: i64) -> Result<Vec<StoredInstall>, StoreError> {
        let sql = concat!(
            "SELECT ",
            install_columns!(),
            " FROM segment_installs i WHERE i.account_id = $1
             ORDER BY COALESCE(i.last_refreshed_at, i.created_at) DESC"
        );
        Ok(on!(self.db, read, |conn| {
            query_as(sql).bind(account_id).fetch_all(conn).await?
        }))
    }

    /// The stored install whose token is good the longest, if any token is still good: what
    /// start-up reads the catalog with (any install may read it).
    pub async fn freshest_token(&self) -> Result<Option<InstallToken>, StoreError> {
        let sql = concat!(
            "SELECT ",
            install_columns!(),
            " FROM segment_installs i
             WHERE i.token_expires_at > $1 AND i.disconnected_at IS NULL AND i.attention IS NULL
             ORDER BY i.token_expires_at DESC LIMIT 1"
        );
        let now = Utc::now();
        let found: Option<StoredInstall> = on!(self.db, read, |conn| {
            query_as(sql).bind(now).fetch_optional(conn).await?
        });
        found.map(|stored| self.install_token(&stored)).transpose()
    }

    /// One of the account's installs; `None` if the account holds no install of that name.
    pub async fn install(
        &self,
        account_id: i64,
        install_name: &InstallName,
    ) -> Result<Option<StoredInstall>, StoreError> {
        let sql = concat!(
            "SELECT ",
            install_columns!(),
            " FROM segment_installs i WHERE i.account_id = $1 AND i.install_name = $2"
        );
        Ok(on!(self.db, read, |conn| {
            query_as(sql)
                .bind(account_id)
                .bind(install_name.as_str())
                .fetch_optional(conn)
                .await?
        }))
    }

    /// The install's newest token, as the Segment client takes it. A row without a readable
    /// token (none minted yet, or sealed under another `SESSION_KEY`) gives a token that has
    /// already expired, so the first use mints a new one.
    pub fn install_token(&self, stored: &StoredInstall) -> Result<InstallToken, StoreError> {
        let bad = |what: &str, reason: &str| {
            StoreError::Database(sqlx::Error::Decode(
                format!("installs.{what} of {}: {reason}", stored.install_name).into(),
            ))
        };
        let token = stored
            .token_sealed
            .as_deref()
            .and_then(|sealed| {
                self.sealer
                    .open_text(sealed, &token_row(stored.install_name.as_str()))
                    .ok()
            })
            .filter(|_| stored.token_expires_at.is_some());
        Ok(InstallToken {
            expires_at: match &token {
                Some(_) => stored.token_expires_at.unwrap_or_default(),
                None => DateTime::<Utc>::UNIX_EPOCH,
            },
            access_token: InstallAccessToken::new(token.unwrap_or_default()),
            scope: SegmentScope::parse(&stored.scope).map_err(|r| bad("scope", r))?,
            app_name: stored.app_name.clone(),
            install_name: stored.install_name.clone(),
            workspace_names: vec![stored.workspace.clone()],
            source_names: match &stored.source {
                Some(source) => vec![SourceName::parse(source).map_err(|r| bad("source", r))?],
                None => Vec::new(),
            },
        })
    }

    fn seal_token(&self, token: &InstallToken) -> Vec<u8> {
        self.sealer.seal(
            token.access_token.expose().as_bytes(),
            &token_row(token.install_name.as_str()),
        )
    }

    /// Keeps a token Segment just minted for the account's install, clears any attention mark
    /// and ends the refresh lease. `false` if the account holds no such install.
    pub async fn save_token(
        &self,
        account_id: i64,
        token: &InstallToken,
    ) -> Result<bool, StoreError> {
        let sealed = self.seal_token(token);
        let expires_at = token.expires_at;
        self.update(
            account_id,
            &token.install_name,
            "token_sealed = $1, token_expires_at = $2, last_refreshed_at = $3,
             attention = NULL, attention_at = NULL, refresh_lease_until = NULL",
            vec![
                Value::Bytes(sealed),
                Value::Time(expires_at),
                Value::Time(Utc::now()),
            ],
        )
        .await
    }

    /// Takes the refresh lease of the install `seen` (as the caller read it) for `hold`,
    /// unless another refresh (in this process or another) holds it, or the install's token
    /// changed since it was read: then another refresh has just finished, and its token is
    /// the one to use. `true`: this caller refreshes, and ends the lease by storing the new
    /// token ([`Store::save_token`]), marking the install ([`Store::mark_attention`]) or
    /// [`Store::end_refresh_lease`]. A lease nobody ended (a crashed instance) lapses.
    pub async fn take_refresh_lease(
        &self,
        seen: &StoredInstall,
        hold: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now().timestamp_millis();
        let until = now.saturating_add(i64::try_from(hold.as_millis()).unwrap_or(i64::MAX));
        // One statement: the database's row lock makes it atomic across every instance, and
        // the token check closes the gap between reading the token and taking the lease.
        let taken = on!(self.db, write, |conn| {
            query(
                "UPDATE segment_installs SET refresh_lease_until = $1
                 WHERE account_id = $2 AND install_name = $3
                     AND (refresh_lease_until IS NULL OR refresh_lease_until < $4)
                     AND token_sealed IS NOT DISTINCT FROM $5",
            )
            .bind(until)
            .bind(seen.account_id)
            .bind(seen.install_name.as_str())
            .bind(now)
            .bind(seen.token_sealed.as_deref())
            .execute(conn)
            .await?
            .rows_affected()
        });
        Ok(taken > 0)
    }

    /// Ends a refresh lease without a new token (the refresh failed).
    pub async fn end_refresh_lease(
        &self,
        account_id: i64,
        install_name: &InstallName,
    ) -> Result<(), StoreError> {
        self.update(
            account_id,
            install_name,
            "refresh_lease_until = NULL",
            Vec::new(),
        )
        .await?;
        Ok(())
    }

    /// Marks the account's install as needing attention (Segment refused a token for it), and
    /// ends the refresh lease.
    pub async fn mark_attention(
        &self,
        account_id: i64,
        install_name: &InstallName,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reason = reason.to_owned();
        self.update(
            account_id,
            install_name,
            "attention = $1, attention_at = $2, refresh_lease_until = NULL",
            vec![Value::Text(reason), Value::Time(Utc::now())],
        )
        .await?;
        Ok(())
    }

    /// Disconnect: the app stops using the install and drops its token, and remembers that the
    /// account made it (so connecting that workspace again reconnects). `false` if the account
    /// holds no such install.
    pub async fn disconnect(
        &self,
        account_id: i64,
        install_name: &InstallName,
    ) -> Result<bool, StoreError> {
        self.update(
            account_id,
            install_name,
            "disconnected_at = $1, token_sealed = NULL, token_expires_at = NULL",
            vec![Value::Time(Utc::now())],
        )
        .await
    }

    /// Takes a disconnected install back into use.
    pub async fn reconnect(
        &self,
        account_id: i64,
        install_name: &InstallName,
    ) -> Result<bool, StoreError> {
        self.update(
            account_id,
            install_name,
            "disconnected_at = NULL, last_refreshed_at = $1",
            vec![Value::Time(Utc::now())],
        )
        .await
    }

    /// `UPDATE segment_installs SET {set}` on the account's install, with `values` for the `$1…$n`
    /// that `set` names, in order. `false` if the account holds no such install: every write
    /// to an install goes through the account that holds it.
    async fn update(
        &self,
        account_id: i64,
        install_name: &InstallName,
        set: &str,
        values: Vec<Value>,
    ) -> Result<bool, StoreError> {
        let n = values.len();
        let sql = format!(
            "UPDATE segment_installs SET {set} WHERE account_id = ${} AND install_name = ${}",
            n + 1,
            n + 2
        );
        let updated = on!(self.db, write, |conn| {
            // `set` is one of this file's constants, and the rest numbers: no outside input.
            let mut statement = query(sqlx::AssertSqlSafe(sql.clone()));
            for value in values {
                statement = match value {
                    Value::Bytes(bytes) => statement.bind(bytes),
                    Value::Text(text) => statement.bind(text),
                    Value::Time(time) => statement.bind(time),
                };
            }
            statement
                .bind(account_id)
                .bind(install_name.as_str())
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok(updated > 0)
    }
}

/// A value for [`Store::update`] to bind.
enum Value {
    Bytes(Vec<u8>),
    Text(String),
    Time(DateTime<Utc>),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::test_support::{store_test, stored as stored_value};
    use super::*;

    fn name(install: &str) -> InstallName {
        InstallName::parse(install).unwrap()
    }

    pub(crate) fn token(install: &str, workspace: &str) -> InstallToken {
        InstallToken {
            access_token: InstallAccessToken::new(format!("token-for-{install}-0123456789")),
            expires_at: Utc::now() + chrono::Duration::hours(1),
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

    store_test!(
        installs_belong_to_one_account_and_keep_their_token_sealed,
        |store, _dir| {
            let (alice, ..) = store.create_account().await.unwrap();
            let (bob, ..) = store.create_account().await.unwrap();
            let first = token("installs/1", "acme");
            store.save_install(alice.id, &first).await.unwrap();
            store.save_install(alice.id, &first).await.unwrap();
            let err = store.save_install(bob.id, &first).await.unwrap_err();
            assert!(matches!(err, StoreError::NotYours(_)));

            assert!(
                store
                    .install(bob.id, &name("installs/1"))
                    .await
                    .unwrap()
                    .is_none()
            );
            let stored = store
                .install(alice.id, &name("installs/1"))
                .await
                .unwrap()
                .unwrap();
            let read = store.install_token(&stored).unwrap();
            assert_eq!(read.access_token, first.access_token);
            assert_eq!(read.source(), first.source());
            let sealed: Vec<u8> = stored_value(
                &store,
                "SELECT token_sealed FROM segment_installs WHERE install_name = $1",
                "installs/1",
            )
            .await;
            let clear = first.access_token.expose().as_bytes();
            assert!(
                !sealed.windows(clear.len()).any(|w| w == clear),
                "token in clear"
            );

            // Bob can neither save a token for it nor disconnect it.
            assert!(!store.save_token(bob.id, &first).await.unwrap());
            assert!(!store.disconnect(bob.id, &name("installs/1")).await.unwrap());
        }
    );

    store_test!(
        attention_is_a_mark_that_a_new_token_clears,
        |store, _dir| {
            let (alice, ..) = store.create_account().await.unwrap();
            store
                .save_install(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            store
                .mark_attention(alice.id, &name("installs/1"), "invalid_client")
                .await
                .unwrap();
            let stored = store
                .install(alice.id, &name("installs/1"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.attention().unwrap().reason, "invalid_client");
            store
                .save_token(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            let stored = store
                .install(alice.id, &name("installs/1"))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.attention(), None);
        }
    );

    store_test!(
        one_refresh_lease_at_a_time_until_it_ends_or_lapses,
        |store, _dir| {
            let (alice, ..) = store.create_account().await.unwrap();
            let (bob, ..) = store.create_account().await.unwrap();
            store
                .save_install(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            let hold = std::time::Duration::from_millis(300);
            // As a refresh does: read the install, then ask for its lease.
            let read = async || {
                store
                    .install(alice.id, &name("installs/1"))
                    .await
                    .unwrap()
                    .unwrap()
            };
            let mut bobs = read().await;
            bobs.account_id = bob.id;
            assert!(!store.take_refresh_lease(&bobs, hold).await.unwrap());
            assert!(store.take_refresh_lease(&read().await, hold).await.unwrap());
            assert!(!store.take_refresh_lease(&read().await, hold).await.unwrap());
            // A stored token ends it.
            store
                .save_token(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            assert!(store.take_refresh_lease(&read().await, hold).await.unwrap());
            // Left alone, it lapses.
            tokio::time::sleep(std::time::Duration::from_millis(350)).await;
            assert!(store.take_refresh_lease(&read().await, hold).await.unwrap());
            store
                .end_refresh_lease(alice.id, &name("installs/1"))
                .await
                .unwrap();
            assert!(store.take_refresh_lease(&read().await, hold).await.unwrap());
        }
    );

    store_test!(
        no_lease_for_a_caller_that_read_a_token_replaced_since,
        |store, _dir| {
            let (alice, ..) = store.create_account().await.unwrap();
            store
                .save_install(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            let read = async || {
                store
                    .install(alice.id, &name("installs/1"))
                    .await
                    .unwrap()
                    .unwrap()
            };
            let hold = std::time::Duration::from_secs(30);
            // Two instances read the expired token; one refreshes and stores its token (which
            // ends its lease) before the other asks for the lease.
            let (first, second) = (read().await, read().await);
            assert!(store.take_refresh_lease(&first, hold).await.unwrap());
            store
                .save_token(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            assert!(
                !store.take_refresh_lease(&second, hold).await.unwrap(),
                "the second refreshed again, retiring the first one's token"
            );
            // Read again, it finds the new token (and would take the lease if that expired).
            assert!(store.take_refresh_lease(&read().await, hold).await.unwrap());
        }
    );

    store_test!(
        a_new_install_on_a_workspace_supersedes_the_old_one,
        |store, _dir| {
            let (alice, ..) = store.create_account().await.unwrap();
            let (bob, ..) = store.create_account().await.unwrap();
            store
                .save_install(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            store
                .save_install(alice.id, &token("installs/2", "globex"))
                .await
                .unwrap();
            let saved = store
                .save_install(bob.id, &token("installs/3", "acme"))
                .await
                .unwrap();
            assert_eq!(saved.superseded, vec!["installs/1".to_owned()]);
            let alices: Vec<_> = store.installs(alice.id).await.unwrap();
            assert_eq!(alices.len(), 1);
            assert_eq!(alices[0].install_name.as_str(), "installs/2");
        }
    );

    store_test!(
        disconnect_keeps_whose_it_was_and_drops_the_token,
        |store, _dir| {
            let (alice, ..) = store.create_account().await.unwrap();
            store
                .save_install(alice.id, &token("installs/1", "acme"))
                .await
                .unwrap();
            assert!(
                store
                    .disconnect(alice.id, &name("installs/1"))
                    .await
                    .unwrap()
            );
            let stored = store
                .install(alice.id, &name("installs/1"))
                .await
                .unwrap()
                .unwrap();
            assert!(!stored.is_connected());
            let read = store.install_token(&stored).unwrap();
            assert!(read.access_token.expose().is_empty());
            assert!(read.is_expired(Utc::now()));
            assert!(
                store
                    .reconnect(alice.id, &name("installs/1"))
                    .await
                    .unwrap()
            );
            let stored = store
                .install(alice.id, &name("installs/1"))
                .await
                .unwrap()
                .unwrap();
            assert!(stored.is_connected());
        }
    );

    /// Saving an install looks up the ones it supersedes by index, not by reading every install.
    #[tokio::test]
    async fn superseded_installs_are_found_by_index() {
        use super::super::db::Db;
        use super::super::test_support::{Backend, temp_store_on};
        let (store, _dir) = temp_store_on(Backend::Sqlite).await;
        let Db::Sqlite(pool) = &*store.db else {
            unreachable!("a SQLite store")
        };
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "EXPLAIN QUERY PLAN DELETE FROM segment_installs
             WHERE app_name = 'a' AND workspace = 'w' AND install_name <> 'i'",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let plan: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX segment_installs_by_workspace")),
            "{plan:?}"
        );
    }
}

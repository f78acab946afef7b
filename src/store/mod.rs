//! The app's state on the server, in one database: SQLite (embedded, the default) or Postgres,
//! through sqlx, chosen by `DATABASE_URL` (`db`; the migrations in `migrations/sqlite/` and
//! `migrations/postgres/` are compiled in and applied when the store opens):
//! - [`accounts`]: the partner's own accounts (in a real partner app: its users), their API
//!   keys and the credential the demo's account cookie holds;
//! - the Segment installs each account made, with their newest install token: the flow
//!   library's install store ([`SqlStore`], its table `segment_installs`, keyed by the
//!   account's id), on the same pool ([`Store::installs`]);
//! - [`sessions`]: the browser sessions (actix-session's [`SessionStore`] over the same
//!   database), so a session cookie holds only an id and logging out ends it everywhere;
//!   [`redis_sessions`] keeps them in Redis instead, when `REDIS_URL` is set.
//!
//! Secrets are never stored in clear: credentials are hashed (SHA-256; they are long and
//! random), and what must be read back (API keys, install tokens, session state) is sealed with
//! [`Sealer`] (AES-256-GCM, keyed from `SESSION_KEY`).
//!
//! [`SessionStore`]: actix_session::storage::SessionStore

pub mod accounts;
mod db;
mod keys;
mod queries;
pub mod redis_sessions;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::crypto::{MasterKey, OpenError, Sealer};
pub use db::describe as describe_database;
pub use db::{Db, MIGRATIONS_TABLE, Migrations};
use queries::queries;

pub use accounts::Account;
pub use enable_with_segment::sql::SqlStore;
pub use keys::{ApiKey, LoginToken, hash as hash_key};
pub use redis_sessions::RedisSessions;
pub use sessions::{Sessions, SqlSessionStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot open the {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("the database schema could not be brought up to date: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("the install store: {0}")]
    Installs(#[from] enable_with_segment::sql::Error),
    #[error("{0}")]
    Unreadable(#[from] OpenError),
    #[error("the demo's generated key in the database is not usable: {0}")]
    DemoKey(String),
    #[error(
        "the database lacks {0} migration(s) and MIGRATE_ON_START is off: run `segment-partnerapp migrate` first"
    )]
    NotMigrated(usize),
}

/// Accounts and sessions, and the installs on the same pool. Cheap to clone: one pool and one
/// sealer shared by all.
#[derive(Debug, Clone)]
pub struct Store {
    db: Arc<Db>,
    sealer: Sealer,
    installs: SqlStore,
}

impl Store {
    /// Opens (creating it if needed) the database at `url`, applies the migrations, and seals
    /// data with keys derived from `key`.
    pub async fn open(url: &str, key: &MasterKey) -> Result<Store, StoreError> {
        Store::open_with(url, key, Migrations::Apply).await
    }

    /// [`Store::open`], applying the migrations or only checking that they were applied.
    pub async fn open_with(
        url: &str,
        key: &MasterKey,
        migrations: Migrations,
    ) -> Result<Store, StoreError> {
        Ok(Store::on(Arc::new(Db::open(url, migrations).await?), key))
    }

    /// A store on a pool you already have, a `SqlitePool` or a `PgPool` (your own database):
    /// its tables are prefixed `segment_` and its migrations recorded in `segment_migrations`
    /// (`db::MIGRATIONS_TABLE`), so they sit beside yours and your sqlx migrations
    /// (`_sqlx_migrations`) never see them. `migrations` applies them or only checks them.
    pub async fn with_pool(
        pool: impl Into<Db>,
        key: &MasterKey,
        migrations: Migrations,
    ) -> Result<Store, StoreError> {
        Ok(Store::on(
            Arc::new(Db::adopt(pool.into(), migrations).await?),
            key,
        ))
    }

    /// For the sandbox demo without `SESSION_KEY`: opens the database and uses the key the demo
    /// generated and kept there on its first start, so sessions, accounts and their sealed
    /// data survive a restart. The data is then no better protected than the database file.
    pub async fn open_demo(
        url: &str,
        migrations: Migrations,
    ) -> Result<(Store, MasterKey), StoreError> {
        let db = Arc::new(Db::open(url, migrations).await?);
        let generated = MasterKey::generate().to_base64();
        let kept = queries!(db, |q| q.demo_key(generated))?;
        let key = MasterKey::parse(&kept).map_err(|e| StoreError::DemoKey(e.to_string()))?;
        Ok((Store::on(db, &key), key))
    }

    /// The store on `db` (migrated), sealing with keys derived from `key`: the installs'
    /// tokens with the same key as everything else at rest, so those the app sealed before the
    /// install store moved to the flow library still open.
    fn on(db: Arc<Db>, key: &MasterKey) -> Store {
        let installs = SqlStore::new(db.sql_pool(), &key.token_seal_key());
        Store {
            db,
            sealer: key.sealer(),
            installs,
        }
    }

    /// The installs: the flow library's store, on the same pool.
    pub fn installs(&self) -> &SqlStore {
        &self.installs
    }

    /// `segment-partnerapp migrate`: brings the database at `url` up to date, and nothing else.
    pub async fn migrate(url: &str) -> Result<(), StoreError> {
        Db::open(url, Migrations::Apply).await.map(drop)
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(queries!(self.db, |q| q.ping())?)
    }

    /// The browser sessions, in the same database.
    pub fn sessions(&self, limits: crate::config::SessionLimits) -> SqlSessionStore {
        SqlSessionStore::new(self.db.clone(), self.sealer.clone(), limits)
    }

    /// Removes what has outlived its use: expired sessions, and demo accounts older than
    /// `unused_accounts` that never connected anything. Returns (sessions, accounts) removed.
    pub async fn clean_up(
        &self,
        sessions: &Sessions,
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
    use crate::secret::AccessToken;
    use crate::segment::{InstallName, InstallToken, SegmentScope, SourceName, WorkspaceName};

    /// A token good for an hour for the install `install` on `workspace`'s `js` source.
    pub(crate) fn token(install: &str, workspace: &str) -> InstallToken {
        InstallToken {
            access_token: AccessToken::new(format!("token-for-{install}-0123456789")),
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

    /// Where a store test runs.
    #[derive(Debug, Clone, Copy)]
    pub enum Backend {
        Sqlite,
        /// A new database on the server `DATABASE_TEST_URL` names (dropped with the guard).
        Postgres,
    }

    /// A store on a database of its own (removed with the returned guard): a SQLite file in
    /// the temp folder, or a new Postgres database.
    pub async fn temp_store_on(backend: Backend) -> (Store, TempDb) {
        let temp = temp_db(backend);
        let store = Store::open(&temp.1, &MasterKey::generate()).await.unwrap();
        (store, temp)
    }

    /// A database of its own, empty (a SQLite file's folder is made when the store opens it).
    pub fn temp_db(backend: Backend) -> TempDb {
        let name = format!(
            "partnerapp_test_{}",
            LoginToken::generate().hash().get(..12).unwrap_or("x")
        );
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(name);
                let url = format!("sqlite://{}", dir.join("nested").join("test.db").display());
                TempDb(Some(dir), url, None)
            }
            Backend::Postgres => {
                let server = std::env::var("DATABASE_TEST_URL")
                    .expect("DATABASE_TEST_URL names a Postgres server for the Postgres tests");
                let mut url = url::Url::parse(&server).expect("DATABASE_TEST_URL is a URL");
                admin(&server, &format!("CREATE DATABASE {name}")).unwrap();
                url.set_path(&name);
                TempDb(None, url.to_string(), Some((server, name)))
            }
        }
    }

    /// Runs one statement on the Postgres server at `server`, from a thread of its own (so
    /// that it also works in `Drop`).
    fn admin(server: &str, sql: &str) -> Result<(), sqlx::Error> {
        let (server, sql) = (server.to_owned(), sql.to_owned());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&server)
                    .await
                    .expect("the Postgres server at DATABASE_TEST_URL answers");
                // The statements are the tests' own (a database name of a word and numbers).
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
            })
        })
        .join()
        .unwrap()
    }

    /// What a test database leaves behind: a folder, its URL, and (Postgres) the server and
    /// database to drop.
    pub struct TempDb(
        pub Option<std::path::PathBuf>,
        pub String,
        Option<(String, String)>,
    );

    impl Drop for TempDb {
        fn drop(&mut self) {
            if let Some(dir) = &self.0 {
                let _ = std::fs::remove_dir_all(dir);
            }
            if let Some((server, name)) = &self.2 {
                // FORCE cannot end a server process of another role (autovacuum, just then
                // working on the new database): try again a few times, and never fail the
                // test for its clean-up.
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                for _ in 0..10 {
                    match admin(server, &drop) {
                        Ok(()) => return,
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
                    }
                }
                eprintln!("the test database {name} could not be dropped");
            }
        }
    }

    /// A store test, once on SQLite and once on Postgres. The Postgres one runs when
    /// `DATABASE_TEST_URL` is set at build time, and is reported as ignored otherwise.
    macro_rules! store_test {
        ($name:ident, |$store:ident, $db:ident| $body:block) => {
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                use $crate::store::test_support::{Backend, TempDb, temp_store_on};

                #[allow(unused_variables)]
                async fn run($store: $crate::store::Store, $db: TempDb) $body

                #[tokio::test]
                async fn sqlite() {
                    let ($store, $db) = temp_store_on(Backend::Sqlite).await;
                    run($store, $db).await
                }

                #[tokio::test]
                #[cfg_attr(not(postgres_tests), ignore = "set DATABASE_TEST_URL to run it on Postgres")]
                async fn postgres() {
                    let ($store, $db) = temp_store_on(Backend::Postgres).await;
                    run($store, $db).await
                }
            }
        };
    }
    pub(crate) use store_test;

    store_test!(an_older_binary_starts_on_a_newer_schema, |store, db| {
        // A newer version recorded a migration this binary does not have, in the app's history
        // and the install store's (a rolling upgrade: old and new instances side by side).
        for table in [
            crate::store::db::MIGRATIONS_TABLE,
            enable_with_segment::sql::MIGRATIONS_TABLE,
        ] {
            let insert = format!(
                "INSERT INTO {table} (version, description, success, checksum, execution_time) \
                 VALUES (99991231000001, 'from a newer version', TRUE, $1, 0)"
            );
            // The statement is the test's own.
            let insert = sqlx::AssertSqlSafe(insert);
            match &*store.db {
                Db::Sqlite(pool) => sqlx::query(insert)
                    .bind(vec![0_u8])
                    .execute(pool)
                    .await
                    .map(drop),
                Db::Postgres(pool) => sqlx::query(insert)
                    .bind(vec![0_u8])
                    .execute(pool)
                    .await
                    .map(drop),
            }
            .unwrap();
        }
        for migrations in [Migrations::Apply, Migrations::Require] {
            let again = Store::open_with(&db.1, &MasterKey::generate(), migrations).await;
            assert!(again.is_ok(), "{migrations:?}: {again:?}");
        }
    });

    /// One value from the store's database (for tests that look at what is stored).
    pub async fn stored<T>(store: &Store, sql: &'static str, key: &str) -> T
    where
        T: Send + Unpin,
        for<'r> T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
        for<'r> T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        match &*store.db {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(key).fetch_one(pool).await,
            Db::Postgres(pool) => sqlx::query_scalar(sql).bind(key).fetch_one(pool).await,
        }
        .unwrap()
    }

    /// `SELECT COUNT(*) …` on the store's database (for tests that look at what is stored).
    pub async fn count(store: &Store, sql: &'static str) -> Result<i64, sqlx::Error> {
        match &*store.db {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
    }
}

/// A partner's database, whose own sqlx migrations are recorded in `_sqlx_migrations` and which
/// has a table called `accounts` of its own, hosts the store: the store's tables and history
/// stay apart (`segment_*`, `segment_migrations`), and either migrator runs again untroubled.
#[cfg(test)]
mod a_partner_database {
    use super::test_support::{Backend, count, temp_db};
    use super::*;
    use sqlx::migrate::{Migration, MigrationType, Migrator};

    /// The partner's own migrations: their `accounts`, nothing like the store's.
    fn partners() -> Migrator {
        Migrator::with_migrations(vec![Migration::new(
            1,
            "the partner's users".into(),
            MigrationType::Simple,
            sqlx::SqlSafeStr::into_sql_str(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
            ),
            false,
        )])
    }

    async fn hosts_the_store(backend: Backend) {
        let temp = temp_db(backend);
        let key = MasterKey::generate();
        // The same steps on either pool type.
        macro_rules! host {
            ($pool:expr) => {{
                let pool = $pool;
                partners().run(&pool).await.unwrap();
                let store = Store::with_pool(pool.clone(), &key, Migrations::Apply)
                    .await
                    .unwrap();
                store.create_account().await.unwrap();
                partners()
                    .run(&pool)
                    .await
                    .expect("the partner's migrator sees only its own");
                let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                (Db::from(pool), rows)
            }};
        }
        let (pool, partner_rows) = match backend {
            Backend::Sqlite => {
                std::fs::create_dir_all(temp.0.as_ref().unwrap().join("nested")).unwrap();
                let options: sqlx::sqlite::SqliteConnectOptions =
                    std::str::FromStr::from_str(&temp.1).unwrap();
                host!(
                    sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                        .await
                        .unwrap()
                )
            }
            Backend::Postgres => host!(sqlx::PgPool::connect(&temp.1).await.unwrap()),
        };
        assert_eq!(partner_rows, 0, "the store's account went to its own table");
        // Started again (checking only), the store finds its schema in its own history.
        let store = Store::with_pool(pool, &key, Migrations::Require)
            .await
            .unwrap();
        assert_eq!(store.account_count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn sqlite() {
        hosts_the_store(Backend::Sqlite).await;
    }

    /// A database this app wrote before the prefix (unprefixed tables, history in
    /// `_sqlx_migrations`): opened now, it keeps its rows, under the new names, and its schema
    /// is recorded in `segment_migrations` without being run again.
    async fn written_before_the_prefix(backend: Backend) {
        let temp = temp_db(backend);
        macro_rules! before {
            ($pool:expr, $legacy:literal) => {{
                let legacy = sqlx::migrate!($legacy);
                let earlier: Vec<Migration> = legacy
                    .iter()
                    .filter(|m| m.version < 20261203000001)
                    .cloned()
                    .collect();
                Migrator::with_migrations(earlier).run($pool).await.unwrap();
                sqlx::query(
                    "INSERT INTO accounts (created_at, api_key_prefix, api_key_hash)
                     VALUES ('2026-12-01T00:00:00Z', 'pak_x', 'h')",
                )
                .execute($pool)
                .await
                .unwrap();
            }};
        }
        match backend {
            Backend::Sqlite => {
                std::fs::create_dir_all(temp.0.as_ref().unwrap().join("nested")).unwrap();
                let options: sqlx::sqlite::SqliteConnectOptions =
                    std::str::FromStr::from_str(&temp.1).unwrap();
                let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                    .await
                    .unwrap();
                before!(&pool, "./migrations/legacy/sqlite");
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&temp.1).await.unwrap();
                before!(&pool, "./migrations/legacy/postgres");
                pool.close().await;
            }
        }
        let store = Store::open(&temp.1, &MasterKey::generate()).await.unwrap();
        assert_eq!(store.account_count().await.unwrap(), 1);
        let baseline = count(
            &store,
            "SELECT COUNT(*) FROM segment_migrations WHERE version = 20261203000001",
        )
        .await
        .unwrap();
        assert_eq!(baseline, 1, "the schema is recorded once, as applied");
        // And it opens again as any database does.
        let again = Store::open_with(&temp.1, &MasterKey::generate(), Migrations::Require).await;
        assert!(again.is_ok(), "{again:?}");
    }

    #[tokio::test]
    async fn written_before_the_prefix_on_sqlite() {
        written_before_the_prefix(Backend::Sqlite).await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set DATABASE_TEST_URL to run it on Postgres"
    )]
    async fn written_before_the_prefix_on_postgres() {
        written_before_the_prefix(Backend::Postgres).await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set DATABASE_TEST_URL to run it on Postgres"
    )]
    async fn postgres() {
        hosts_the_store(Backend::Postgres).await;
    }
}

/// A database the app wrote before its installs moved to the flow library's store (the app's
/// own `segment_installs`, keyed by account, with its times): opened now, each install is its
/// account's in the library's table, with its times, its marks and its token (which still
/// opens), and the app's table is gone.
#[cfg(test)]
mod installs_move_to_the_library {
    use super::test_support::{Backend, count, temp_db, token};
    use super::*;
    use chrono::DateTime;
    use enable_with_segment::InstallStore;

    async fn moved(backend: Backend) {
        let temp = temp_db(backend);
        let key = MasterKey::generate();
        let now = Utc::now();
        let kept = token("installs/7", "acme");
        let sealed = key.sealer().seal(
            kept.access_token.secret().as_bytes(),
            "installs/token/installs/7",
        );
        // The same steps on either pool type: the app's schema as it was (its first
        // migration), an account, and two installs, one refused and one disconnected.
        macro_rules! before {
            ($pool:expr, $migrations:literal) => {{
                let pool = $pool;
                let mut migrator = sqlx::migrate!($migrations);
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run_to(20261203000001, &pool).await.unwrap();
                let account: i64 = sqlx::query_scalar(
                    "INSERT INTO segment_accounts (created_at, api_key_prefix, api_key_hash)
                     VALUES ($1, 'pak_x', 'h') RETURNING id",
                )
                .bind(now)
                .fetch_one(&pool)
                .await
                .unwrap();
                let install = "INSERT INTO segment_installs
                     (install_name, account_id, app_name, workspace, source, scope, created_at,
                      last_refreshed_at, token_sealed, token_expires_at, attention, attention_at,
                      disconnected_at)
                     VALUES ($1, $2, 'apps/1', $3, $4, 'destination/clearbrain', $5, $6, $7, $8,
                             $9, $10, $11)";
                sqlx::query(install)
                    .bind("installs/7")
                    .bind(account)
                    .bind("workspaces/acme")
                    .bind("workspaces/acme/sources/js")
                    .bind(now - chrono::Duration::days(2))
                    .bind(now - chrono::Duration::hours(1))
                    .bind(&sealed)
                    .bind(kept.expires_at)
                    .bind("install not found")
                    .bind(now - chrono::Duration::minutes(5))
                    .bind(None::<DateTime<Utc>>)
                    .execute(&pool)
                    .await
                    .unwrap();
                sqlx::query(install)
                    .bind("installs/8")
                    .bind(account)
                    .bind("workspaces/globex")
                    .bind(None::<String>)
                    .bind(now - chrono::Duration::days(1))
                    .bind(None::<DateTime<Utc>>)
                    .bind(None::<Vec<u8>>)
                    .bind(None::<DateTime<Utc>>)
                    .bind(None::<String>)
                    .bind(None::<DateTime<Utc>>)
                    .bind(now - chrono::Duration::minutes(1))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                account
            }};
        }
        let account = match backend {
            Backend::Sqlite => {
                std::fs::create_dir_all(temp.0.as_ref().unwrap().join("nested")).unwrap();
                let options: sqlx::sqlite::SqliteConnectOptions =
                    std::str::FromStr::from_str(&temp.1).unwrap();
                let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                    .await
                    .unwrap();
                before!(pool, "./migrations/sqlite")
            }
            Backend::Postgres => {
                before!(
                    sqlx::PgPool::connect(&temp.1).await.unwrap(),
                    "./migrations/postgres"
                )
            }
        };
        let store = Store::open(&temp.1, &key).await.unwrap();
        let installs = store.installs().installs(&account).await.unwrap();
        let names: Vec<&str> = installs.iter().map(|i| i.name().as_str()).collect();
        // Most recently used first: installs/7 was refreshed an hour ago.
        assert_eq!(names, ["installs/7", "installs/8"]);
        let (refused, disconnected) = (&installs[0], &installs[1]);
        let near = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).num_milliseconds().abs() <= 1;
        assert!(near(refused.created_at, now - chrono::Duration::days(2)));
        assert!(near(refused.used_at, now - chrono::Duration::hours(1)));
        assert_eq!(
            refused.token.access_token, kept.access_token,
            "the token opens"
        );
        assert!(near(refused.token.expires_at, kept.expires_at));
        assert_eq!(refused.token.source(), kept.source());
        let refusal = refused.refused.as_ref().expect("the mark moved");
        assert_eq!(refusal.reason, "install not found");
        assert!(near(refusal.at, now - chrono::Duration::minutes(5)));
        assert!(refused.is_connected());
        assert!(near(disconnected.used_at, now - chrono::Duration::days(1)));
        assert!(disconnected.disconnected_at.is_some() && disconnected.refused.is_none());
        assert!(disconnected.token.source().is_none());
        // Refreshing the moved token takes the lease (the row has no hash of it yet), once.
        let hold = chrono::Utc::now() + chrono::Duration::seconds(30);
        let installs = store.installs();
        assert!(
            installs
                .try_refresh_lease(&account, &refused.token, hold)
                .await
                .unwrap()
        );
        assert!(
            !installs
                .try_refresh_lease(&account, &refused.token, hold)
                .await
                .unwrap()
        );
        // The app's own table and the holding one are gone; opened again, nothing moves twice.
        let again = Store::open_with(&temp.1, &key, Migrations::Require).await;
        assert!(again.is_ok(), "{again:?}");
        let left = count(&store, "SELECT COUNT(*) FROM segment_installs_moving")
            .await
            .map_or(0, |_| 1);
        assert_eq!(left, 0, "the holding table is still there");
    }

    #[tokio::test]
    async fn on_sqlite() {
        moved(Backend::Sqlite).await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set DATABASE_TEST_URL to run it on Postgres"
    )]
    async fn on_postgres() {
        moved(Backend::Postgres).await;
    }
}

/// A database the store wrote before it ran on sqlx alone (rusqlite on the calling thread, with
/// times and blobs as sqlx stores them) opens and reads the same: the account by its login
/// cookie, its key unsealed, its install (now in the flow library's store) and the install's
/// token unsealed.
#[cfg(test)]
mod written_before_sqlx {
    use super::*;
    use crate::crypto::MasterKey;

    /// The tests' `SESSION_KEY` (`tests/api/helpers.rs`), which the fixture was sealed with.
    const KEY: &str = "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90";
    /// The account cookie the fixture's visitor held.
    const LOGIN: &str = "pal_HcVCagAK0TbbgC2SqwyaOCnOlDHSOYBM2iCUhVnU";

    #[tokio::test]
    async fn a_database_written_before_opens_and_reads_the_same() {
        let dir = std::env::temp_dir().join(format!("partnerapp-fixture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("before.sqlite3");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/written-before-sqlx.sqlite3"
            ),
            &file,
        )
        .unwrap();
        let key = MasterKey::parse(KEY).unwrap();
        let store = Store::open(&format!("sqlite://{}", file.display()), &key)
            .await
            .unwrap();
        let login = LoginToken::parse(LOGIN).unwrap();
        let (account, _) = store.account_by_login(&login, None).await.unwrap().unwrap();
        let api_key = store.api_key(&account).unwrap();
        assert!(api_key.expose().starts_with(&account.api_key_prefix));
        assert_eq!(hash_key(api_key.expose()), account.api_key_hash);
        // The install moved to the flow library's store, its token as the app sealed it.
        use enable_with_segment::InstallStore;
        let installs = store.installs().installs(&account.id).await.unwrap();
        assert_eq!(installs.len(), 1);
        let install = &installs[0];
        assert_eq!(
            install.token.workspace().map(|w| w.as_str()),
            Some("workspaces/acme")
        );
        assert_eq!(
            install.token.source().map(|s| s.as_str()),
            Some("workspaces/acme/sources/ios")
        );
        let written =
            chrono::DateTime::parse_from_rfc3339("2026-12-02T15:25:24.718714565+00:00").unwrap();
        assert!(
            (install.created_at - written.to_utc())
                .num_milliseconds()
                .abs()
                <= 1
        );
        assert!(
            !install.token.access_token.secret().is_empty(),
            "the token did not unseal"
        );
        assert_eq!(store.account_count().await.unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The store's database: SQLite (embedded, the default) or Postgres, chosen by `DATABASE_URL`.
//!
//! Both are sqlx's: a `SqlitePool` or a `PgPool`, with sqlx's own types and row mapping. Every
//! query is written once, in SQL both understand, with `$1, $2, …` placeholders (sqlx's SQLite
//! driver reads `$N` as the N-th argument, as Postgres does). [`on!`] runs it on the pool at
//! hand; its two arms are the same sqlx calls on the two pool types (Rust needs the types to
//! be known), so each query is type-checked against both. How a transaction starts differs, and
//! that lives here. (sqlx's own one-type-for-both, `AnyPool`, would need no macro, but it takes
//! no chrono times, which every table here holds.)
//!
//! SQLite: WAL, so readers never wait for the writer; a statement waits up to [`BUSY_TIMEOUT`]
//! for another connection's write lock. A transaction starts with `BEGIN IMMEDIATE` (it takes
//! the write lock first: one that reads, then writes, would otherwise fail in WAL mode if
//! another connection wrote in between).
//!
//! Postgres: one sqlx `PgPool`, shared by every worker, without the test on acquire (the server
//! closes nothing on its own on loopback or a private network, and a broken connection fails its
//! query, which the pool then drops). Migrations take Postgres' advisory lock, so instances
//! starting together are safe.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection as _};

use super::StoreError;

/// SQLite connections per instance (sqlx runs each on a thread of its own). Measured on 2 cores
/// with `BENCH_ONLY=pages bench/run.sh`: 8 served 4,700 to 5,700 destination pages/s at 64
/// connections, 4 served 3,300 to 3,400 and 1 served 1,900 (BENCHMARKS.md).
const SQLITE_CONNECTIONS: u32 = 8;
/// How long a statement waits for a lock another connection holds (SQLite's `busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Postgres connections per instance. Two instances on two cores were fastest with 8 each;
/// Postgres' default limit (100) leaves room for twelve instances.
const PG_CONNECTIONS: u32 = 8;
/// How long connecting to Postgres, or waiting for a free connection, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What to say about a database in a message: its kind, host and name, never a password.
pub fn describe(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) if url.scheme().starts_with("postgres") => format!(
            "Postgres database {:?} on {}:{}",
            url.path().trim_start_matches('/'),
            url.host_str().unwrap_or("localhost"),
            url.port().unwrap_or(5432)
        ),
        _ => format!(
            "SQLite database {}",
            url.trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:")
        ),
    }
}

/// What opening the database does about its schema: apply the migrations (`MIGRATE_ON_START`,
/// the default, and `segment-partnerapp migrate`), or only check that they were applied (a
/// deployment that migrates once, before it rolls out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    Apply,
    Require,
}

impl Migrations {
    /// Applies `migrator`'s migrations on `conn`, or checks that none is pending.
    async fn bring_up<C>(
        self,
        migrator: &sqlx::migrate::Migrator,
        conn: &mut C,
    ) -> Result<(), StoreError>
    where
        C: sqlx::migrate::Migrate + Send,
    {
        match self {
            Migrations::Apply => {
                migrator.run_direct(conn).await?;
            }
            Migrations::Require => {
                // No migrations table yet: nothing applied.
                let applied: Vec<i64> = match conn.list_applied_migrations().await {
                    Ok(applied) => applied.into_iter().map(|m| m.version).collect(),
                    Err(_) => Vec::new(),
                };
                let pending = migrator
                    .iter()
                    .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
                    .count();
                if pending > 0 {
                    return Err(StoreError::NotMigrated(pending));
                }
            }
        }
        Ok(())
    }
}

impl Db {
    /// Opens the database at `url` (a SQLite file is created, with its folder, if needed) and
    /// applies its migrations, or checks they are applied.
    pub async fn open(url: &str, migrations: Migrations) -> Result<Db, StoreError> {
        let connect = |source: sqlx::Error| StoreError::Connect {
            target: describe(url),
            source,
        };
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(connect)?;
            // One connection first, for the migrations: a server that is down or refuses the
            // login fails here with its reason (the pool would only say it timed out).
            let mut first = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
                .await
                .map_err(|_| connect(sqlx::Error::PoolTimedOut))?
                .map_err(connect)?;
            migrations
                .bring_up(&sqlx::migrate!("./migrations/postgres"), &mut first)
                .await?;
            first.close().await?;
            let pool = PgPoolOptions::new()
                .max_connections(PG_CONNECTIONS)
                .acquire_timeout(CONNECT_TIMEOUT)
                .test_before_acquire(false)
                .connect_lazy_with(options);
            return Ok(Db::Postgres(pool));
        }
        Ok(Db::Sqlite(open_sqlite(url, migrations).await.map_err(
            |e| match e {
                StoreError::Database(source) => connect(source),
                other => other,
            },
        )?))
    }
}

/// The SQLite file (created, with its folder, if needed), migrated, and its pool.
async fn open_sqlite(url: &str, migrations: Migrations) -> Result<SqlitePool, StoreError> {
    // WAL with synchronous=NORMAL: readers never wait for the writer, and a commit waits for
    // no fsync of its own (still durable across an application crash).
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT);
    let file = options.get_filename().to_path_buf();
    if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty())
        && !folder.exists()
    {
        std::fs::create_dir_all(folder)
            .map_err(|e| StoreError::Folder(folder.display().to_string(), e))?;
    }
    // One connection first, for the migrations (or the check that they were applied).
    let mut first = options.connect().await?;
    migrations
        .bring_up(&sqlx::migrate!("./migrations/sqlite"), &mut first)
        .await?;
    first.close().await?;
    // No test on acquire: a connection to a local file does not break on its own, and the test
    // (a ping) is a round trip to the connection's thread before every query.
    Ok(SqlitePoolOptions::new()
        .max_connections(SQLITE_CONNECTIONS)
        .acquire_timeout(BUSY_TIMEOUT)
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Runs `$body` with `$conn` bound to the store's database `$db`:
/// - `read` and `write`: the pool (each query takes a connection for itself);
/// - `transaction`: a `&mut` connection in a transaction that is committed when `$body` returns
///   `Ok` (SQLite: `BEGIN IMMEDIATE`, see the module's doc).
///
/// `$body` is expanded once per pool type, so the same SQL and binds are checked for both. It
/// may use `?` for `sqlx::Error` and `StoreError`.
macro_rules! on {
    ($db:expr, transaction, |$conn:ident| $body:expr) => {
        match &*$db {
            $crate::store::db::Db::Sqlite(pool) => {
                #[allow(unused_imports)]
                use sqlx::{query, query_as, query_scalar};
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let $conn = &mut *tx;
                let done = $body;
                tx.commit().await?;
                done
            }
            $crate::store::db::Db::Postgres(pool) => {
                #[allow(unused_imports)]
                use sqlx::{query, query_as, query_scalar};
                let mut tx = pool.begin().await?;
                let $conn = &mut *tx;
                let done = $body;
                tx.commit().await?;
                done
            }
        }
    };
    ($db:expr, $kind:ident, |$conn:ident| $body:expr) => {
        match &*$db {
            $crate::store::db::Db::Sqlite(pool) => {
                #[allow(unused_imports)]
                use sqlx::{query, query_as, query_scalar};
                let $conn = pool;
                $body
            }
            $crate::store::db::Db::Postgres(pool) => {
                #[allow(unused_imports)]
                use sqlx::{query, query_as, query_scalar};
                let $conn = pool;
                $body
            }
        }
    };
}
pub(crate) use on;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_host_and_database_never_the_password() {
        let said = describe("postgres://app:hunter2@db.internal:6543/partner");
        assert_eq!(said, "Postgres database \"partner\" on db.internal:6543");
        assert!(!said.contains("hunter2"));
        assert_eq!(
            describe("sqlite://data/partnerapp.db"),
            "SQLite database data/partnerapp.db"
        );
    }
}

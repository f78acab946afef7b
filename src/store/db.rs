//! The store's database: SQLite (embedded, the default) or Postgres, chosen by `DATABASE_URL`.
//!
//! Every query is written once, in SQL both understand, with `$1, $2, …` placeholders (sqlx's
//! SQLite driver reads `$N` as the N-th argument, as Postgres does). [`on!`] runs it on the
//! backend at hand: the macro expands the query once per backend, so each is type-checked
//! against both. What differs is only how a connection is had and how a transaction starts,
//! and that lives here.
//!
//! SQLite: a few connections of the store's own, each used by one query at a time, which runs
//! on the thread that asks (`store::sqlite`: sqlx's SQLite driver hands every query to a thread
//! of the connection's own and back, which cost more than the query; BENCHMARKS.md). Writes go
//! through one connection of their own: SQLite lets one connection write at a time, and taking
//! turns in the process keeps writers from sleeping on a busy database.
//!
//! Postgres: one sqlx `PgPool`, shared by every worker, without the test on acquire (the server
//! closes nothing on its own on loopback or a private network, and a broken connection fails its
//! query, which the pool then drops). Migrations take Postgres' advisory lock, so instances
//! starting together are safe.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection as _};
use tokio::sync::{Mutex, MutexGuard};

use super::sqlite::{self, Connection};

use super::StoreError;

/// How many connections for reads. A query holds one only while it runs (on the calling
/// thread), so one per thread that serves requests is plenty; a few more cover the others.
const READERS: usize = 4;
/// How long a statement waits for a lock another process holds (SQLite's `busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Postgres connections per instance. Two instances on two cores were fastest with 8 each;
/// Postgres' default limit (100) leaves room for twelve instances.
const PG_CONNECTIONS: u32 = 8;
/// How long connecting to Postgres, or waiting for a free connection, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum Db {
    Sqlite(SqliteDb),
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
    /// Applies `migrator`'s migrations, or checks none is pending (`applied` lists the versions
    /// the database has, read only in that case).
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
        Ok(Db::Sqlite(SqliteDb::open(url, migrations).await.map_err(
            |e| match e {
                StoreError::Database(source) => connect(source),
                other => other,
            },
        )?))
    }
}

/// The SQLite file's connections.
#[derive(Debug)]
pub struct SqliteDb {
    /// For every statement that writes.
    writer: Mutex<Connection>,
    readers: Box<[Mutex<Connection>]>,
    /// Where a request that finds every connection busy waits its turn.
    next: AtomicUsize,
}

impl SqliteDb {
    async fn open(url: &str, migrations: Migrations) -> Result<SqliteDb, StoreError> {
        // WAL with synchronous=NORMAL: readers never wait for the writer, and a commit waits for
        // no fsync of its own (still durable across an application crash).
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
        // sqlx applies the migrations (and sets WAL, which the file keeps), then lets go.
        let mut migrator = options.connect().await?;
        migrations
            .bring_up(&sqlx::migrate!("./migrations/sqlite"), &mut migrator)
            .await?;
        migrator.close().await?;
        let open = || -> Result<Mutex<Connection>, StoreError> {
            let conn = Connection::open(&file).map_err(sqlite::error)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite::error)?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(sqlite::error)?;
            Ok(Mutex::new(conn))
        };
        let writer = open()?;
        let readers = (0..READERS)
            .map(|_| open())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteDb {
            writer,
            readers: readers.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// The connection for a statement (or transaction) that writes, once no other uses it.
    pub async fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().await
    }

    /// A connection for one read: a free one if there is one, else the next in turn once it is
    /// free.
    pub async fn reader(&self) -> MutexGuard<'_, Connection> {
        for connection in self.readers.iter() {
            if let Ok(free) = connection.try_lock() {
                return free;
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[turn].lock().await
    }
}

/// Runs `$body` with `$conn` bound to a `&mut` connection of the store's database `$db`:
/// - `read`: any connection;
/// - `write`: SQLite's writer (Postgres: any connection);
/// - `transaction`: a transaction that is committed when `$body` returns `Ok` (SQLite: `BEGIN
///   IMMEDIATE`, which takes the write lock first; a transaction that reads, then writes, would
///   otherwise fail in WAL mode if another connection wrote in between).
///
/// `$body` is expanded once per backend, so the same SQL and binds are checked for both: its
/// `query`, `query_as` and `query_scalar` are sqlx's for Postgres and `store::sqlite`'s (the
/// same calls, run inline) for SQLite. It may use `?` for `sqlx::Error` and `StoreError`.
macro_rules! on {
    ($db:expr, transaction, |$conn:ident| $body:expr) => {
        match &*$db {
            $crate::store::db::Db::Sqlite(db) => {
                #[allow(unused_imports)]
                use $crate::store::sqlite::{query, query_as, query_scalar};
                let mut held = db.writer().await;
                let mut tx = $crate::store::sqlite::Transaction::begin(&mut held)?;
                let $conn = tx.conn();
                let done = $body;
                tx.commit()?;
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
            $crate::store::db::Db::Sqlite(db) => {
                #[allow(unused_imports)]
                use $crate::store::sqlite::{query, query_as, query_scalar};
                let mut held = on!(@sqlite db, $kind);
                let $conn = &mut *held;
                $body
            }
            $crate::store::db::Db::Postgres(pool) => {
                #[allow(unused_imports)]
                use sqlx::{query, query_as, query_scalar};
                let mut held = pool.acquire().await?;
                let $conn = &mut *held;
                $body
            }
        }
    };
    // SQLite's connection for a read, or its one writer.
    (@sqlite $db:ident, read) => {
        $db.reader().await
    };
    (@sqlite $db:ident, write) => {
        $db.writer().await
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

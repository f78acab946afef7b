//! The store's database: SQLite (embedded, the default) or Postgres, chosen by `DATABASE_URL`.
//!
//! Both are sqlx's: a `SqlitePool` or a `PgPool`, with sqlx's own types and row mapping. Every
//! query is written once, in SQL both understand, with `$1, $2, …` placeholders (sqlx's SQLite
//! driver reads `$N` as the N-th argument, as Postgres does), in `queries.rs`, generic over
//! the database. (sqlx's own one-type-for-both, `AnyPool`, would need no generics, but it takes
//! no chrono times, which the tables here hold.)
//!
//! SQLite: WAL, so readers never wait for the writer; a statement waits up to [`BUSY_TIMEOUT`]
//! for another connection's write lock. A transaction writes first, so it takes the write lock
//! at its first statement (one that read, then wrote, could fail in WAL mode if another
//! connection wrote in between).
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
use enable_with_segment::sql::SqlPool;

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

/// What to say about a database in a message: its kind, host and name, never a password. A
/// Postgres URL that does not parse is not shown at all.
pub fn describe(url: &str) -> String {
    let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
    match url::Url::parse(url) {
        Ok(url) if postgres => format!(
            "Postgres database {:?} on {}:{}",
            url.path().trim_start_matches('/'),
            url.host_str().unwrap_or("localhost"),
            url.port().unwrap_or(5432)
        ),
        Err(error) if postgres => format!(
            "Postgres database (DATABASE_URL does not read as a URL: {error}; it is not shown, \
             as it holds a password)"
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

/// Where the store records its migrations: a table of its own, not sqlx's `_sqlx_migrations`,
/// so that a database whose own migrations sqlx records there (a partner's) can host the store,
/// and neither migrator sees the other's history as missing migrations.
pub const MIGRATIONS_TABLE: &str = "segment_migrations";

/// sqlx's default migrations table, where a database written before the prefix keeps its
/// history (`migrations/legacy/`).
const LEGACY_TABLE: &str = "_sqlx_migrations";

/// The app's migration that takes the installs out of its own table, into a holding one: the
/// flow library's install store (`enable_with_segment::sql`) makes its own table after it, and
/// the next migration moves them in. So a database is brought up with the app's migrations to
/// this one, then the library's, then the rest.
const INSTALLS_MOVED_OUT: i64 = 20261206000002;

/// The store's migrations for one kind of database: the current ones (`migrations/sqlite/` or
/// `migrations/postgres/`, recorded in [`MIGRATIONS_TABLE`]) and the history before the prefix
/// (`migrations/legacy/…`, recorded in `_sqlx_migrations`, ending with the tables renamed to the
/// schema the current ones start from).
struct Schema {
    current: sqlx::migrate::Migrator,
    legacy: sqlx::migrate::Migrator,
}

impl Schema {
    fn new(mut current: sqlx::migrate::Migrator, legacy: sqlx::migrate::Migrator) -> Schema {
        current.dangerous_set_table_name(MIGRATIONS_TABLE);
        // A rolling upgrade runs old and new binaries side by side: an older one starts on the
        // schema a newer one migrated (later migrations only add), rather than refusing it.
        current.set_ignore_missing(true);
        Schema { current, legacy }
    }

    /// The first of the current migrations: the whole schema, which a legacy database already
    /// has once its history has run.
    fn baseline(&self) -> i64 {
        self.current.iter().map(|m| m.version).min().unwrap_or(0)
    }
}

/// Applied migrations recorded in `table`, or none if there is no such table.
async fn applied<C: sqlx::migrate::Migrate>(conn: &mut C, table: &str) -> Vec<(i64, Vec<u8>)> {
    match conn.list_applied_migrations(table).await {
        Ok(applied) => applied
            .into_iter()
            .map(|m| (m.version, m.checksum.into_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Migrations {
    /// Applies `schema`'s migrations on `conn`, and the install store's (the flow library's
    /// table, on `installs`) where they fit in ([`INSTALLS_MOVED_OUT`]); or checks that none
    /// is pending. A database written before the prefix (its `_sqlx_migrations` holds this
    /// store's first migration, by version and checksum) first finishes its legacy history,
    /// which renames its tables; its current schema is then recorded as applied, not run.
    async fn bring_up<C>(
        self,
        schema: &Schema,
        conn: &mut C,
        installs: &SqlPool,
    ) -> Result<(), StoreError>
    where
        C: sqlx::migrate::Migrate + Send,
    {
        let ours = applied(conn, MIGRATIONS_TABLE).await;
        let legacy = ours.is_empty() && {
            let first = schema.legacy.iter().next();
            let history = applied(conn, LEGACY_TABLE).await;
            first.is_some_and(|m| history.contains(&(m.version, m.checksum.to_vec())))
        };
        match self {
            Migrations::Apply => {
                if legacy {
                    schema.legacy.run_direct(None, conn, false).await?;
                    // Recorded, not run: the renamed tables are this schema.
                    schema
                        .current
                        .run_direct(Some(schema.baseline()), conn, true)
                        .await?;
                }
                schema
                    .current
                    .run_direct(Some(INSTALLS_MOVED_OUT), conn, false)
                    .await?;
                installs.migrate().await?;
                schema.current.run_direct(None, conn, false).await?;
            }
            Migrations::Require => {
                let versions: Vec<i64> = ours.iter().map(|(version, _)| *version).collect();
                let pending = schema
                    .current
                    .iter()
                    .filter(|m| {
                        m.migration_type.is_up_migration() && !versions.contains(&m.version)
                    })
                    .count()
                    + installs.pending_migrations().await?;
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
    /// applies its migrations (the app's and the install store's), or checks they are applied.
    pub async fn open(url: &str, migrations: Migrations) -> Result<Db, StoreError> {
        let connect = |source: sqlx::Error| StoreError::Connect {
            target: describe(url),
            source,
        };
        let db = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(connect)?;
            // One connection first: a server that is down or refuses the login fails here with
            // its reason (the pool would only say it timed out).
            let first = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
                .await
                .map_err(|_| connect(sqlx::Error::PoolTimedOut))?
                .map_err(connect)?;
            first.close().await?;
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(PG_CONNECTIONS)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .test_before_acquire(false)
                    .connect_lazy_with(options),
            )
        } else {
            Db::Sqlite(open_sqlite(url).await.map_err(|e| match e {
                StoreError::Database(source) => connect(source),
                other => other,
            })?)
        };
        Db::adopt(db, migrations).await
    }

    /// The store on a pool the caller already has (a partner's own database): its migrations
    /// are applied, or checked, as [`Db::open`] does. The pool's settings stay the caller's
    /// (for SQLite, WAL and a busy timeout are advised, as [`Db::open`] sets them).
    pub async fn adopt(pool: Db, migrations: Migrations) -> Result<Db, StoreError> {
        let installs = pool.sql_pool();
        match &pool {
            Db::Sqlite(sqlite) => {
                let mut conn = sqlite.acquire().await?;
                migrations
                    .bring_up(&sqlite_schema(), &mut *conn, &installs)
                    .await?;
            }
            Db::Postgres(postgres) => {
                let mut conn = postgres.acquire().await?;
                migrations
                    .bring_up(&postgres_schema(), &mut *conn, &installs)
                    .await?;
            }
        }
        Ok(pool)
    }

    /// The same pool, as the flow library's install store takes it.
    pub fn sql_pool(&self) -> SqlPool {
        match self {
            Db::Sqlite(pool) => pool.clone().into(),
            Db::Postgres(pool) => pool.clone().into(),
        }
    }
}

impl From<SqlitePool> for Db {
    fn from(pool: SqlitePool) -> Db {
        Db::Sqlite(pool)
    }
}

impl From<PgPool> for Db {
    fn from(pool: PgPool) -> Db {
        Db::Postgres(pool)
    }
}

fn sqlite_schema() -> Schema {
    Schema::new(
        sqlx::migrate!("./migrations/sqlite"),
        sqlx::migrate!("./migrations/legacy/sqlite"),
    )
}

fn postgres_schema() -> Schema {
    Schema::new(
        sqlx::migrate!("./migrations/postgres"),
        sqlx::migrate!("./migrations/legacy/postgres"),
    )
}

/// The SQLite file (created, with its folder, if needed), and its pool.
async fn open_sqlite(url: &str) -> Result<SqlitePool, StoreError> {
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
    // One connection first: a file that cannot be made or opened fails here with its reason.
    options.connect().await?.close().await?;
    // No test on acquire: a connection to a local file does not break on its own, and the test
    // (a ping) is a round trip to the connection's thread before every query.
    Ok(SqlitePoolOptions::new()
        .max_connections(SQLITE_CONNECTIONS)
        .acquire_timeout(BUSY_TIMEOUT)
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

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
        let said = describe("postgres://app:hunter2@db.example:notaport/partner");
        assert!(
            said.starts_with("Postgres database (DATABASE_URL does not read"),
            "{said}"
        );
        assert!(!said.contains("hunter2"), "{said}");
    }
}

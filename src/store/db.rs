//! The store's connections to its SQLite file: a few, each used by one query at a time.
//!
//! Why not sqlx's `Pool`: it tests every connection when it is given back (a `ping`, which for
//! SQLite is a round trip to the connection's own thread), so each query cost two round trips
//! and a spawned task. On a local file that test finds nothing to fix, and under load the round
//! trips (thread wake-ups, on two cores) were most of a page's cost; see BENCHMARKS.md. Queries
//! run on a connection borrowed from here, as `&mut *db.conn().await`.
//!
//! Writes go through one connection of their own, [`Db::writer`]: SQLite lets one connection
//! write at a time, and connections that meet a busy database sleep and try again (1 ms, then
//! longer). Taking turns in the process instead keeps writers from sleeping; another process on
//! the same file still gets SQLite's busy timeout.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use tokio::sync::{Mutex, MutexGuard};

use super::StoreError;

/// How many connections for reads: each has a thread of its own that runs its queries. With 4,
/// pages waited for a free one under load; past 8 nothing was gained (BENCHMARKS.md).
const READERS: usize = 8;

#[derive(Debug)]
pub struct Db {
    /// For every statement that writes.
    writer: Mutex<SqliteConnection>,
    connections: Box<[Mutex<SqliteConnection>]>,
    /// Where a request that finds every connection busy waits its turn.
    next: AtomicUsize,
}

impl Db {
    /// Opens the database at `url` (creating it and its folder if needed) and applies the
    /// migrations.
    pub async fn open(url: &str) -> Result<Db, StoreError> {
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
        let mut writer = options.connect().await?;
        sqlx::migrate!("./migrations").run(&mut writer).await?;
        let mut connections = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            connections.push(Mutex::new(options.connect().await?));
        }
        let db = Db {
            writer: Mutex::new(writer),
            connections: connections.into_boxed_slice(),
            next: AtomicUsize::new(0),
        };
        Ok(db)
    }

    /// The connection for a statement (or transaction) that writes, once no other uses it.
    pub async fn writer(&self) -> MutexGuard<'_, SqliteConnection> {
        self.writer.lock().await
    }

    /// A connection for one read: a free one if there is one, else the next in turn once it is
    /// free.
    pub async fn conn(&self) -> MutexGuard<'_, SqliteConnection> {
        for connection in self.connections.iter() {
            if let Ok(free) = connection.try_lock() {
                return free;
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[turn].lock().await
    }
}

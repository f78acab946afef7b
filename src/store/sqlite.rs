//! SQLite queries run on the thread that asks for them, with rusqlite, behind the part of sqlx's
//! query API the store uses (`query`, `query_as`, `query_scalar`, `bind`, `execute`,
//! `fetch_one`, `fetch_optional`, `fetch_all`), so that `db::on!` expands the same query text
//! for SQLite and for Postgres (which stays on sqlx).
//!
//! Why not sqlx's SQLite driver: it runs every connection on a thread of its own, so each query
//! is two thread hand-offs (the query to that thread, the answer back), and on two cores those
//! wake-ups cost more than the query (a `SELECT 1` was ~30 µs and 2 context switches;
//! BENCHMARKS.md). A query on the embedded file takes microseconds, so it runs inline, like
//! rendering a template. sqlx still applies the migrations, before these connections open.
//!
//! Values are stored as sqlx's SQLite driver stores them (times as RFC 3339 text), so a
//! database written by either reads the same.

use std::borrow::Cow;
use std::future::{Ready, ready};
use std::marker::PhantomData;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{Value, ValueRef};

pub use rusqlite::Connection;

/// A value bound to a `$N` placeholder.
pub trait Encode {
    fn encode(self) -> Value;
}

impl Encode for i64 {
    fn encode(self) -> Value {
        Value::Integer(self)
    }
}

impl Encode for &str {
    fn encode(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Encode for String {
    fn encode(self) -> Value {
        Value::Text(self)
    }
}

impl Encode for &String {
    fn encode(self) -> Value {
        Value::Text(self.clone())
    }
}

impl Encode for Vec<u8> {
    fn encode(self) -> Value {
        Value::Blob(self)
    }
}

impl Encode for &Vec<u8> {
    fn encode(self) -> Value {
        Value::Blob(self.clone())
    }
}

impl Encode for &[u8] {
    fn encode(self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl Encode for DateTime<Utc> {
    fn encode(self) -> Value {
        // As sqlx's SQLite driver writes it.
        Value::Text(self.to_rfc3339_opts(SecondsFormat::AutoSi, false))
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(self) -> Value {
        self.map_or(Value::Null, Encode::encode)
    }
}

/// A column's value, read into a Rust type.
pub trait Decode: Sized {
    fn decode(value: ValueRef<'_>) -> Result<Self, String>;
}

impl Decode for i64 {
    fn decode(value: ValueRef<'_>) -> Result<Self, String> {
        value.as_i64().map_err(|e| e.to_string())
    }
}

impl Decode for String {
    fn decode(value: ValueRef<'_>) -> Result<Self, String> {
        Ok(value.as_str().map_err(|e| e.to_string())?.to_owned())
    }
}

impl Decode for Vec<u8> {
    fn decode(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Ok(bytes.to_vec()),
            other => Err(format!("expected bytes, found {:?}", other.data_type())),
        }
    }
}

impl Decode for DateTime<Utc> {
    fn decode(value: ValueRef<'_>) -> Result<Self, String> {
        let text = value.as_str().map_err(|e| e.to_string())?;
        // RFC 3339 as written; else SQLite's own `YYYY-MM-DD HH:MM:SS[.SSS]`, taken as UTC.
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                    .map(|t| t.and_utc())
            })
            .map_err(|e| format!("{text:?} is not a time: {e}"))
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(value: ValueRef<'_>) -> Result<Self, String> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::decode(other).map(Some),
        }
    }
}

/// A row of a query's answer.
pub struct Row<'r>(&'r rusqlite::Row<'r>);

impl Row<'_> {
    /// The column named `name` (as sqlx's `Row::try_get`).
    pub fn try_get<T: Decode>(&self, name: &str) -> Result<T, sqlx::Error> {
        let value = self.0.get_ref(name).map_err(error)?;
        T::decode(value).map_err(|reason| decode_error(name, reason))
    }

    fn at<T: Decode>(&self, index: usize) -> Result<T, sqlx::Error> {
        let value = self.0.get_ref(index).map_err(error)?;
        T::decode(value).map_err(|reason| decode_error(&format!("#{index}"), reason))
    }
}

fn decode_error(column: &str, reason: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: reason.into(),
    }
}

/// A type a whole row is read into (sqlx's `FromRow`, for this module's rows).
pub trait FromRow: Sized {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error>;
}

impl<A: Decode> FromRow for (A,) {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok((row.at(0)?,))
    }
}

impl<A: Decode, B: Decode> FromRow for (A, B) {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok((row.at(0)?, row.at(1)?))
    }
}

impl<A: Decode, B: Decode, C: Decode> FromRow for (A, B, C) {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok((row.at(0)?, row.at(1)?, row.at(2)?))
    }
}

/// What a statement that returns no rows did.
#[derive(Debug)]
pub struct Done {
    rows: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// `sqlx::query`: a statement and its values.
pub struct Query<'q> {
    sql: &'q str,
    values: Vec<Value>,
}

pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        values: Vec::new(),
    }
}

impl<'q> Query<'q> {
    /// The value for the next placeholder (`$1`, then `$2`, …).
    pub fn bind(mut self, value: impl Encode) -> Query<'q> {
        self.values.push(value.encode());
        self
    }

    /// Runs the statement (now: the future is ready when it is returned).
    pub fn execute(self, conn: &mut Connection) -> Ready<Result<Done, sqlx::Error>> {
        let ran = self.run(conn, |rows| {
            while rows.next().map_err(error)?.is_some() {}
            Ok(())
        });
        ready(ran.map(|()| Done {
            rows: conn.changes(),
        }))
    }

    /// Prepares the statement (cached per connection), binds the values to their `$N` and
    /// hands the rows to `read`.
    fn run<T>(
        &self,
        conn: &mut Connection,
        read: impl FnOnce(&mut rusqlite::Rows<'_>) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut statement = conn.prepare_cached(self.sql).map_err(error)?;
        for (i, value) in self.values.iter().enumerate() {
            // `$N` names the N-th value wherever it appears, as in Postgres (and sqlx).
            if let Some(index) = statement
                .parameter_index(&format!("${}", i + 1))
                .map_err(error)?
            {
                statement.raw_bind_parameter(index, value).map_err(error)?;
            }
        }
        let mut rows = statement.raw_query();
        read(&mut rows)
    }

    fn rows<O>(
        self,
        conn: &mut Connection,
        limit: usize,
        read: impl Fn(&Row<'_>) -> Result<O, sqlx::Error>,
    ) -> Result<Vec<O>, sqlx::Error> {
        self.run(conn, |rows| {
            let mut found = Vec::new();
            // Every row is stepped through, so a statement that writes always completes.
            while let Some(row) = rows.next().map_err(error)? {
                if found.len() < limit {
                    found.push(read(&Row(row))?);
                }
            }
            Ok(found)
        })
    }
}

/// `sqlx::query_as`: each row read into an `O`.
pub struct QueryAs<'q, O> {
    query: Query<'q>,
    row: PhantomData<O>,
}

pub fn query_as<O: FromRow>(sql: &str) -> QueryAs<'_, O> {
    QueryAs {
        query: query(sql),
        row: PhantomData,
    }
}

impl<'q, O: FromRow> QueryAs<'q, O> {
    pub fn bind(mut self, value: impl Encode) -> QueryAs<'q, O> {
        self.query = self.query.bind(value);
        self
    }

    pub fn fetch_all(self, conn: &mut Connection) -> Ready<Result<Vec<O>, sqlx::Error>> {
        ready(self.query.rows(conn, usize::MAX, O::from_row))
    }

    pub fn fetch_optional(self, conn: &mut Connection) -> Ready<Result<Option<O>, sqlx::Error>> {
        ready(
            self.query
                .rows(conn, 1, O::from_row)
                .map(|rows| rows.into_iter().next()),
        )
    }

    pub fn fetch_one(self, conn: &mut Connection) -> Ready<Result<O, sqlx::Error>> {
        ready(
            self.fetch_optional(conn)
                .into_inner()
                .and_then(|row| row.ok_or(sqlx::Error::RowNotFound)),
        )
    }
}

/// `sqlx::query_scalar`: the first column of each row.
pub struct QueryScalar<'q, T> {
    query: Query<'q>,
    value: PhantomData<T>,
}

pub fn query_scalar<T: Decode>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar {
        query: query(sql),
        value: PhantomData,
    }
}

impl<'q, T: Decode> QueryScalar<'q, T> {
    pub fn bind(mut self, value: impl Encode) -> QueryScalar<'q, T> {
        self.query = self.query.bind(value);
        self
    }

    pub fn fetch_all(self, conn: &mut Connection) -> Ready<Result<Vec<T>, sqlx::Error>> {
        ready(self.query.rows(conn, usize::MAX, |row| row.at(0)))
    }

    pub fn fetch_one(self, conn: &mut Connection) -> Ready<Result<T, sqlx::Error>> {
        ready(
            self.query
                .rows(conn, 1, |row| row.at(0))
                .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)),
        )
    }
}

/// A transaction on `conn` (`BEGIN IMMEDIATE`, so it holds the write lock from the start),
/// rolled back when dropped uncommitted: an early `?` in `on!`'s body leaves nothing behind.
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    done: bool,
}

impl<'c> Transaction<'c> {
    pub fn begin(conn: &'c mut Connection) -> Result<Transaction<'c>, sqlx::Error> {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(error)?;
        Ok(Transaction { conn, done: false })
    }

    pub fn conn(&mut self) -> &mut Connection {
        self.conn
    }

    pub fn commit(mut self) -> Result<(), sqlx::Error> {
        self.done = true;
        self.conn.execute_batch("COMMIT").map_err(error)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing more can be done if even this fails: the next BEGIN reports it.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// SQLite's error as sqlx's (the store's errors are sqlx's, whichever database).
pub fn error(error: rusqlite::Error) -> sqlx::Error {
    match error {
        rusqlite::Error::QueryReturnedNoRows => sqlx::Error::RowNotFound,
        other => sqlx::Error::Database(Box::new(SqliteError(other))),
    }
}

#[derive(Debug)]
struct SqliteError(rusqlite::Error);

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        match &self.0 {
            rusqlite::Error::SqliteFailure(_, Some(message)) => message,
            _ => "SQLite error",
        }
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.0
            .sqlite_error()
            .map(|e| Cow::Owned(e.extended_code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        match self.0.sqlite_error().map(|e| e.extended_code) {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE) | Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                sqlx::error::ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => sqlx::error::ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => sqlx::error::ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{ConnectOptions, Connection as _};

    fn memory() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, at TEXT)")
            .unwrap();
        conn
    }

    #[tokio::test]
    async fn placeholders_name_their_value_wherever_they_appear() {
        let mut conn = memory();
        // `$2` before `$1`, and `$1` twice: by name, as Postgres reads them.
        query("INSERT INTO t (name, id) VALUES ($2 || $1 || $1, $3)")
            .bind("a")
            .bind("b")
            .bind(7)
            .execute(&mut conn)
            .await
            .unwrap();
        let name: String = query_scalar("SELECT name FROM t WHERE id = $1")
            .bind(7)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(name, "baa");
        let missing: Option<(i64,)> = query_as("SELECT id FROM t WHERE id = $1")
            .bind(8)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
        assert!(missing.is_none());
        assert!(matches!(
            query_scalar::<i64>("SELECT id FROM t WHERE id = 8")
                .fetch_one(&mut conn)
                .await,
            Err(sqlx::Error::RowNotFound)
        ));
    }

    #[tokio::test]
    async fn an_unfinished_transaction_leaves_nothing() {
        let mut conn = memory();
        {
            let mut tx = Transaction::begin(&mut conn).unwrap();
            query("INSERT INTO t (id) VALUES (1)")
                .execute(tx.conn())
                .await
                .unwrap();
            // Dropped here, as by an early `?`.
        }
        let mut tx = Transaction::begin(&mut conn).unwrap();
        query("INSERT INTO t (id) VALUES (2)")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().unwrap();
        let ids: Vec<i64> = query_scalar("SELECT id FROM t")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(ids, [2]);
        let unique = query("INSERT INTO t (id) VALUES (2)")
            .execute(&mut conn)
            .await
            .unwrap_err();
        let database = unique.as_database_error().expect("a database error");
        assert_eq!(database.kind(), sqlx::error::ErrorKind::UniqueViolation);
    }

    /// A database written by sqlx's SQLite driver (as every version before this one did) reads
    /// the same here, and the other way round: times are stored as the same text.
    #[tokio::test]
    async fn values_are_stored_as_sqlx_stores_them() {
        let dir = std::env::temp_dir().join(format!(
            "partnerapp_sqlite_{}",
            crate::store::LoginToken::generate()
                .hash()
                .get(..12)
                .unwrap_or("x")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.db");
        let mut theirs = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, at TEXT)")
            .execute(&mut theirs)
            .await
            .unwrap();
        let at = DateTime::parse_from_rfc3339("2026-12-01T12:34:56.789012Z")
            .unwrap()
            .with_timezone(&Utc);
        sqlx::query("INSERT INTO t (id, name, at) VALUES (1, 'sqlx', $1)")
            .bind(at)
            .execute(&mut theirs)
            .await
            .unwrap();
        let mut ours = Connection::open(&file).unwrap();
        query("INSERT INTO t (id, name, at) VALUES (2, 'inline', $1)")
            .bind(at)
            .execute(&mut ours)
            .await
            .unwrap();
        let texts: Vec<String> = query_scalar("SELECT at FROM t ORDER BY id")
            .fetch_all(&mut ours)
            .await
            .unwrap();
        assert_eq!(texts[0], texts[1], "the same text for the same time");
        let read: Vec<(String, DateTime<Utc>)> = query_as("SELECT name, at FROM t ORDER BY id")
            .fetch_all(&mut ours)
            .await
            .unwrap();
        assert!(read.iter().all(|(_, t)| *t == at), "{read:?}");
        let back: Vec<DateTime<Utc>> = sqlx::query_scalar("SELECT at FROM t ORDER BY id")
            .fetch_all(&mut theirs)
            .await
            .unwrap();
        assert_eq!(back, [at, at]);
        theirs.close().await.unwrap();
        drop(ours);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
